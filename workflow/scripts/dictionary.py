from weaksup.logs import redirect_to_log
from weaksup.text.dictionary import build_dictionary

redirect_to_log(snakemake.log[0])
build_dictionary(
    snakemake.input[0],
    drop_most_frequent=snakemake.params.drop_most_frequent,
    size=int(snakemake.wildcards.K),
    out_path=snakemake.output[0],
)
