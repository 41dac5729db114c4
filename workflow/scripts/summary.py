from weaksup.logs import redirect_to_log
from weaksup.paper import load_paper_results
from weaksup.summary import write_summary

redirect_to_log(snakemake.log[0])
tables = {name: path for name, path in snakemake.input.items()}
facts = load_paper_results(snakemake.params.paper).get("facts", [])
write_summary(snakemake.output[0], snakemake.params.corpus_description, tables, facts)
