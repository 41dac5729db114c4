from weaksup.launch import run_training, train_argv

gpus = int(snakemake.resources.gpu)
argv = train_argv(
    snakemake.params.training,
    snakemake.params.model_options,
    arch=snakemake.wildcards.arch,
    corpus_dir=snakemake.params.corpus_dir,
    targets=snakemake.input.targets,
    dictionary=snakemake.input.dictionary,
    run_dir=snakemake.params.run_dir,
    output=snakemake.output.model,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if gpus else "cpu",
)
run_training(argv, gpus, snakemake.log[0], python=snakemake.params.python)
