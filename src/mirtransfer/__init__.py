"""mirtransfer: convnet feature transfer for music classification and regression.

A re-implementation of Choi, Fazekas, Sandler and Cho, "Transfer learning for music
classification and regression tasks" (ISMIR 2017) as a Snakemake workflow. Each
pipeline stage has one module here, one rule file under workflow/rules/ and one
thin script under workflow/scripts/, named alike (the README's table lists them:
scores, for instance, are evaluate.py, evaluate.smk and score.py).
"""

__version__ = "0.1.0"
