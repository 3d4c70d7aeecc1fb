#!/usr/bin/python3
"""make_pandas_fixtures.py OUT -- pandas frames, Series and Indexes as the real
pandas pickles them, for tests/test_pandas.py (issue 14, SPEC 3.2).

Every object is written with pickle protocols 2 to 5 and with joblib (plain and
zlib-compressed): NAME.p2.pkl ... NAME.p5.pkl, NAME.joblib, NAME.z.joblib.  Also
NAME.old.pkl for the frames: the same frame with its BlockManager in the state
layout pandas 0.14.1 to 1.2 wrote (BlockManager.__getstate__, "_data" for "_mgr"),
made by pandas' own __getstate__ so the bytes are what those versions stored.
"""
import copyreg
import io
import os
import pickle
import sys
import warnings

warnings.simplefilter("ignore")

import joblib
import numpy as np
import pandas as pd
from pandas.core.internals.managers import BlockManager, SingleBlockManager
from sklearn.dummy import DummyClassifier


def objects():
    mixed = pd.DataFrame({
        "int": np.array([3, -1, 7, 0], dtype=np.int64),
        "float": [0.1, np.nan, 1e-05, 2.5e16],
        "flag": [True, False, True, True],
        "city": ["Zürich", None, 'say "hi", then go', "a\nb"],
        "kind": pd.Categorical(["low", "high", None, "low"]),
        "when": pd.to_datetime(["2020-01-01 10:30", None, "1969-12-31 23:59:59", "2021-06-01"]),
        "f32": np.array([0.1, 3.4e38, -0.0, 1.5], dtype=np.float32),
        "small": np.array([0, 255, 7, 1], dtype=np.uint8),
        "level": pd.Categorical([3, 1, 3, 2]),
        "a/b": [1, 2, 3, 4],
    })
    matrix = pd.DataFrame(np.arange(12.0).reshape(4, 3) / 7,
                          index=pd.Index(["r0", "r1", "r2", "r3"], name="rows"))
    times = pd.DataFrame({"x": [1.5, 2.5, 3.5]},
                         index=pd.to_datetime(["2020-01-01 00:00:00.250", "2020-01-02", None]))
    tz = pd.DataFrame({"at": pd.to_datetime(["2020-01-01", "2020-06-01 12:00"], utc=True),
                       "n": [1, 2]})
    nullable = pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"),
                             "b": pd.array([True, None, False], dtype="boolean"),
                             "f": pd.array([0.5, 1.5, None], dtype="Float64"),
                             "u": pd.array([7, 8, None], dtype="UInt8")})
    holder = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
    holder.frame_ = mixed
    return {
        "mixed": mixed,
        "matrix": matrix,
        "times": times,
        "tz": tz,
        "nullable": nullable,
        "holder": holder,
        "series": pd.Series([0.5, np.nan, 2.0], index=["a", "b", "c"], name="score"),
        "unnamed": pd.Series([4, 5, 6]),
        "index": pd.Index(["a", "b", "c"], name="letters"),
        "range": pd.RangeIndex(2, 20, 3, name="r"),
        "dates": pd.DatetimeIndex(["2020-01-01", "2020-01-03"], name="d"),
    }


class OldLayout(pickle.Pickler):
    """Pickles managers as pandas 0.14.1-1.2 did: the object and its state tuple."""

    def reducer_override(self, obj):
        if type(obj) in (BlockManager, SingleBlockManager):
            # pandas 1.5 keeps the old state only on SingleBlockManager; it reads
            # any manager's blocks and axes
            return (copyreg.__newobj__, (type(obj),),
                    SingleBlockManager.__getstate__(obj))
        if isinstance(obj, (pd.DataFrame, pd.Series)):
            state = obj.__getstate__()
            state["_data"] = state.pop("_mgr")
            return copyreg.__newobj__, (type(obj),), state
        return NotImplemented


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, obj in objects().items():
        for proto in (2, 3, 4, 5):
            with open(os.path.join(out, "%s.p%d.pkl" % (name, proto)), "wb") as f:
                pickle.dump(obj, f, protocol=proto)
        joblib.dump(obj, os.path.join(out, name + ".joblib"))
        joblib.dump(obj, os.path.join(out, name + ".z.joblib"), compress=3)
        if isinstance(obj, (pd.DataFrame, pd.Series)):
            buf = io.BytesIO()
            OldLayout(buf, protocol=2).dump(obj)
            with open(os.path.join(out, name + ".old.pkl"), "wb") as f:
                f.write(buf.getvalue())


if __name__ == "__main__":
    main(sys.argv[1])
