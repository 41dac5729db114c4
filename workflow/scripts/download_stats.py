from pathlib import Path

from weaksup.corpus.fetch import gather_download_stats
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
# The built-in downloader's inputs are the stats files; img2dataset's input is its output folder.
paths = []
for item in map(Path, snakemake.input):
    paths += sorted(item.glob("*_stats.json")) if item.is_dir() else [item]
gather_download_stats(paths, snakemake.output[0])
