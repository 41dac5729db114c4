from weaksup.atomic import write_json
from weaksup.evaluate import evaluate_word_prediction
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
result = evaluate_word_prediction(
    snakemake.input.model,
    snakemake.params.corpus_dir,
    snakemake.input.targets,
    split="test",
    ks=tuple(snakemake.params.ks),
    batch_size=256,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if snakemake.resources.gpu else "cpu",
)
names = {"model": snakemake.wildcards.arch, "loss": snakemake.wildcards.loss, "K": int(snakemake.wildcards.K)}
write_json(snakemake.output[0], {**result, "model_path": result["model"], **names})
