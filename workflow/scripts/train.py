from weaksup.launch import run_training, train_argv

gpus = int(snakemake.resources.get("gpu", 0))
argv = train_argv(
    snakemake.params.training,
    snakemake.params.model_options,
    arch=snakemake.params.get("arch", None) or snakemake.wildcards.arch,
    loss=snakemake.params.get("loss", None) or snakemake.wildcards.loss,
    corpus_dir=snakemake.params.corpus_dir,
    targets=snakemake.input.targets,
    dictionary=snakemake.input.get("dictionary", None),
    train_subset=snakemake.input.get("subset", None) or None,
    run_dir=snakemake.params.run_dir,
    output=snakemake.output.model,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if gpus else "cpu",
)
run_training(argv, gpus, snakemake.log[0], python=snakemake.params.python, threads=snakemake.threads)
