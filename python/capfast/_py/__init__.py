"""The pure-Python twin of ``capfast._native``: same flat names, same signatures, same bytes out.

Each area lives in its own module (``_py/merkle.py`` twins ``rust/src/py/merkle.rs``) and is re-exported here.
"""

from capfast._py.merkle import merkle_leaf_hash, merkle_root

__all__ = ["merkle_leaf_hash", "merkle_root"]
