"""Learned Bloom filters: the same false-positive rate in a fraction of the memory.

A classifier that has learned what keys look like takes most of a Bloom filter's work; backup
filters hold the keys the model misses, so there is never a false negative.

- :class:`BloomFilter`: a standard Bloom filter (numba bit array), the baseline and backup.
- :class:`BinaryFuseFilter`: a static binary fuse filter, an alternative backup (``backup="fuse"``).
- :class:`LearnedBloomFilter`: model + threshold + backup (Kraska et al. 2018).
- :class:`SandwichedLearnedBloomFilter`: initial filter + model + backup (Mitzenmacher 2018).
- :class:`PartitionedLearnedBloomFilter`: score regions with their own backups (PLBF, Vaidya et
  al. 2021; fast construction of Sato and Matsui 2023).
- :class:`Classifier`: the model interface; :class:`NGramLogistic` is the default model,
  :class:`CharGRU` the paper's character GRU (PyTorch, ``pip install 'learnedsys[torch]'``).

Every learned filter is built for a target FPR or for a memory budget, from keys and a sample of
non-keys. The target holds for queries drawn like those non-keys (Mitzenmacher 2018); for any
other queries a learned filter guarantees only its worst-case bound, ``worst_case_fpr``: by
default 10x the target (``None``: no bound, the papers' filter, whose FPR on shifted queries can
reach 80-90%). ``adapt(false_positives)`` makes a filter answer no for queries the lookup behind
it found to be false positives and, given the keys, re-allocates its bits for queries like them;
no key ever becomes a false negative.

>>> from learnedsys.bloom import PartitionedLearnedBloomFilter, load
>>> keys = [f"user-{i}@example.com" for i in range(3000)]
>>> negatives = [f"{i}.tracker.net" for i in range(3000)]
>>> f = PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys, negatives)
>>> bool(f.contains(keys).all())
True
>>> "user-1@example.com" in f
True
>>> f.size_in_bytes() > 0
True
>>> f.worst_case_bound_ <= 0.1   # no query set sees more than 10% false positives
True
>>> fps = [q for q in (f"user-{i}@example.org" for i in range(500)) if q in f]  # the lookup missed
>>> bool(f.adapt(fps).contains(fps).any()), bool(f.contains(keys).all())
(False, True)

``f.save(path)`` writes a checked file; :func:`load` reads any filter of this package back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys._estimator import NotFittedError
    from learnedsys._serialization import FormatError
    from learnedsys.bloom._bloomfilter import BloomFilter, bloom_bits, bloom_fpr
    from learnedsys.bloom._classifier import (
        CLASSIFIERS,
        Classifier,
        NGramLogistic,
        register_classifier,
    )
    from learnedsys.bloom._encode import EncodedBatch, encode_items, hash_batch
    from learnedsys.bloom._fuse import BinaryFuseFilter
    from learnedsys.bloom._gru import CharGRU
    from learnedsys.bloom._learned import (
        LearnedBloomFilter,
        PartitionedLearnedBloomFilter,
        SandwichedLearnedBloomFilter,
        load,
    )

# Names resolve on first use (PEP 562), so ``import learnedsys.bloom._cli`` (and with it
# ``learnedsys --help``) does not import numba.
_WHERE = {
    "FormatError": "learnedsys._serialization",
    "NotFittedError": "learnedsys._estimator",
    "BloomFilter": "learnedsys.bloom._bloomfilter",
    "bloom_bits": "learnedsys.bloom._bloomfilter",
    "bloom_fpr": "learnedsys.bloom._bloomfilter",
    "CLASSIFIERS": "learnedsys.bloom._classifier",
    "Classifier": "learnedsys.bloom._classifier",
    "NGramLogistic": "learnedsys.bloom._classifier",
    "register_classifier": "learnedsys.bloom._classifier",
    "EncodedBatch": "learnedsys.bloom._encode",
    "encode_items": "learnedsys.bloom._encode",
    "hash_batch": "learnedsys.bloom._encode",
    "BinaryFuseFilter": "learnedsys.bloom._fuse",
    "CharGRU": "learnedsys.bloom._gru",
    "LearnedBloomFilter": "learnedsys.bloom._learned",
    "PartitionedLearnedBloomFilter": "learnedsys.bloom._learned",
    "SandwichedLearnedBloomFilter": "learnedsys.bloom._learned",
    "load": "learnedsys.bloom._learned",
}

__all__ = [
    "CLASSIFIERS",
    "BinaryFuseFilter",
    "BloomFilter",
    "CharGRU",
    "Classifier",
    "EncodedBatch",
    "FormatError",
    "LearnedBloomFilter",
    "NGramLogistic",
    "NotFittedError",
    "PartitionedLearnedBloomFilter",
    "SandwichedLearnedBloomFilter",
    "bloom_bits",
    "bloom_fpr",
    "encode_items",
    "hash_batch",
    "load",
    "register_classifier",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
