from weaksup.embeddings.evaluate import evaluate_embedding, write_embedding_result
from weaksup.embeddings.vectors import load_embedding
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
inputs = snakemake.input
result = evaluate_embedding(
    load_embedding(inputs.embedding),
    inputs.analogies,
    {name: inputs[name] for name in snakemake.params.similarity_sets},
    inputs.bilingual_dictionary,
    candidate_set=snakemake.params.candidate_set,
)
write_embedding_result(snakemake.output[0], result, snakemake.params.source, snakemake.params.corpus)
