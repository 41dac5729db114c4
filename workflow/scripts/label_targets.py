from weaksup.logs import redirect_to_log
from weaksup.supervised import build_label_targets

redirect_to_log(snakemake.log[0])
build_label_targets(
    list(snakemake.input.labels),
    snakemake.input.word_targets,
    snakemake.output.targets,
    min_photos_per_class=snakemake.params.min_photos_per_class,
    classes_out=snakemake.output.classes,
)
