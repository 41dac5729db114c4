from weaksup.logs import redirect_to_log
from weaksup.transfer.build import prepare_demo, prepare_released

redirect_to_log(snakemake.log[0])
name = snakemake.wildcards.dataset
out_dir = snakemake.params.out_dir
if snakemake.params.demo:
    prepare_demo(name, snakemake.params.settings, out_dir, snakemake.params.image_size, snakemake.threads,
                 snakemake.params.demo_corpus, corpus_dir=snakemake.params.corpus_dir,
                 labels_tsvs=snakemake.input.get("labels", None), targets_path=snakemake.input.get("targets", None))
else:
    prepare_released(name, snakemake.params.root, out_dir, snakemake.params.image_size, snakemake.threads,
                     snakemake.params.max_skipped_fraction)
