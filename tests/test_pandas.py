"""test_pandas.py -- issue 14 point 3: pandas DataFrame, Series and Index have one
canonical form (SPEC 3.2), whatever pickle protocol, joblib compressor or pandas
internal layout stored them.

The objects are made and pickled by the real pandas (scripts/make_pandas_fixtures.py),
read back through a real mount; the truth is what pandas holds after pickle.load:
numpy.load of columns/NAME.npy equals df[NAME].to_numpy(), frame.csv is byte for
byte what df.to_csv() writes, and `diff -r` of the trees of one object stored
every way shows only the format's own files.
"""
import io
import json
import os
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import diff_names, mounted, run_script

# summary.txt names the format ("file  pickle, compression none, protocol 2")
FORMAT_DEPENDENT = {"meta.json", "types.txt", "untrusted.txt", "compat.json", "summary.txt"}
WAYS = ["p2.pkl", "p3.pkl", "p4.pkl", "p5.pkl", "joblib", "z.joblib"]
FRAMES = ["mixed", "matrix", "times", "tz"]
SERIES = ["series", "unnamed"]


@pytest.fixture(scope="module")
def mnt(tmp_path_factory):
    out = tmp_path_factory.mktemp("pandas")
    run_script("make_pandas_fixtures.py", out)
    with mounted(str(out)) as m:
        yield str(out), m


def truth(src, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open(os.path.join(src, name + ".p2.pkl"), "rb") as f:
            return pickle.load(f)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def escaped(label):
    return str(label).replace("%", "%25").replace("/", "%2F")


def plain(v):
    """What a column's .json holds for one value: missing values are null."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def check_values(base, stem, values, dtype):
    """stem.npy equals the values as pandas holds them (numeric and datetime
    dtypes), else stem.json is their list."""
    arr = np.asarray(values)
    if dtype.kind in "biufM" and not isinstance(dtype, pd.DatetimeTZDtype):
        got = np.load(base + "/" + stem + ".npy", allow_pickle=False)
        assert got.dtype == arr.dtype, stem
        if arr.dtype.kind == "f":
            np.testing.assert_array_equal(got, arr)
            assert (np.signbit(got) == np.signbit(arr)).all(), stem
        else:
            assert (got == arr).all() or (arr.dtype.kind == "M" and
                                           (got.view("i8") == arr.view("i8")).all()), stem
        assert not os.path.exists(base + "/" + stem + ".json")
    elif isinstance(dtype, pd.DatetimeTZDtype):
        got = np.load(base + "/" + stem + ".npy", allow_pickle=False)
        assert (got.view("i8") == values.array.asi8).all(), stem
    else:
        with open(base + "/" + stem + ".json") as f:
            assert json.load(f) == [plain(v) for v in values], stem


def check_index(base, idx):
    with open(base + "/__class__") as f:
        assert f.read() == "%s.%s\n" % (type(idx).__module__, type(idx).__name__)
    assert read(base + "/name") == (str(idx.name) + "\n").encode()
    if isinstance(idx, pd.RangeIndex):
        for part in ("start", "stop", "step"):
            assert read(base + "/" + part) == b"%d\n" % getattr(idx, part)
        assert not [n for n in os.listdir(base) if n.startswith("values")]
    else:
        check_values(base, "values", idx, idx.dtype)


def check_frame(base, df):
    names = set(os.listdir(base))
    assert {"__class__", "columns.json", "dtypes.json", "index", "columns"} <= names, names
    assert not {"_mgr", "_data", "_typ", "_flags"} & names
    assert read(base + "/__class__") == b"pandas.core.frame.DataFrame\n"
    with open(base + "/columns.json") as f:
        assert json.load(f) == list(df.columns)
    with open(base + "/dtypes.json") as f:
        assert json.load(f) == {str(c): str(t) for c, t in df.dtypes.items()}
    for c in df.columns:
        check_values(base + "/columns", escaped(c), df[c], df[c].dtype)
    check_index(base + "/index", df.index)
    if any(isinstance(t, pd.DatetimeTZDtype) for t in df.dtypes):
        assert "frame.csv" not in names   # pandas prints offsets; not shown rather than wrong
        return
    csv = read(base + "/frame.csv")
    assert csv == df.to_csv().encode()
    reads_back(csv, df)


def reads_back(csv, df):
    """pandas.read_csv(frame.csv, index_col=0) equals the frame, for what CSV carries:
    numbers, bools and text as they are (a float32 column as its shortest text, read
    back as float32), datetimes once parsed, a categorical column as its values.
    Floats are exact with float_precision="round_trip": pandas' default parser is off
    by up to an ulp (0.42857142857142855 -> 0.4285714285714285) for to_csv()'s own text,
    so with it the frame equals what pandas reads back from to_csv()."""
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(csv), index_col=0),
                                  pd.read_csv(io.StringIO(df.to_csv()), index_col=0))
    got = pd.read_csv(io.BytesIO(csv), index_col=0, float_precision="round_trip")
    assert list(got.columns) == [str(c) for c in df.columns]
    for label in df.columns:
        same_values(got[str(label)], df[label], label)
    same_values(got.index.to_series(), df.index.to_series(), "index")
    assert got.index.name == df.index.name


def same_values(got, want, label):
    if isinstance(want.dtype, pd.CategoricalDtype):
        want = want.astype(want.cat.categories.dtype if not want.hasnans else object)
    if want.dtype.kind == "M":
        got = pd.to_datetime(got)
    elif want.dtype.kind in "iub":
        assert got.dtype.kind == want.dtype.kind or got.dtype == np.int64, (label, got.dtype)
        got = got.astype(want.dtype)
    elif want.dtype.kind == "f":
        assert got.dtype.kind == "f", (label, got.dtype)
        got = got.astype(want.dtype)
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    if want.dtype == object:
        missing = want.isna()
        assert (got.isna() == missing).all(), label
        got, want = got[~missing], want[~missing]
        assert [str(v) for v in got] == [str(v) for v in want], label
        return
    pd.testing.assert_series_equal(got, want, check_names=False, check_exact=True)


@pytest.mark.parametrize("way", WAYS + ["old.pkl"])
@pytest.mark.parametrize("name", FRAMES)
def test_frame_columns_index_csv(mnt, name, way):
    src, m = mnt
    check_frame(os.path.join(m, "%s.%s" % (name, way)), truth(src, name))


@pytest.mark.parametrize("way", WAYS + ["old.pkl"])
@pytest.mark.parametrize("name", SERIES)
def test_series_values_index_csv(mnt, name, way):
    src, m = mnt
    s = truth(src, name)
    base = os.path.join(m, "%s.%s" % (name, way))
    assert read(base + "/__class__") == b"pandas.core.series.Series\n"
    assert read(base + "/name") == (str(s.name) + "\n").encode()
    assert read(base + "/dtype") == (str(s.dtype) + "\n").encode()
    check_values(base, "values", s, s.dtype)
    check_index(base + "/index", s.index)
    assert read(base + "/frame.csv") == s.to_csv().encode()
    reads_back(read(base + "/frame.csv"), s.to_frame(s.name if s.name is not None else 0))
    assert not {"_mgr", "_data", "_typ"} & set(os.listdir(base))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", ["index", "range", "dates"])
def test_index_values(mnt, name, way):
    src, m = mnt
    check_index(os.path.join(m, "%s.%s" % (name, way)), truth(src, name))


@pytest.mark.parametrize("way", WAYS + ["old.pkl"])
def test_nullable_columns_are_data_and_mask(mnt, way):
    """Int64, boolean, Float64 columns: an object of the array's class with data and
    mask only (as numpy masked arrays); no frame.csv rather than a different one."""
    src, m = mnt
    df = truth(src, "nullable")
    base = os.path.join(m, "nullable." + way)
    with open(base + "/dtypes.json") as f:
        assert json.load(f) == {str(c): str(t) for c, t in df.dtypes.items()}
    for c in df.columns:
        arr = df[c].array
        col = base + "/columns/" + c
        assert read(col + "/__class__") == ("%s.%s\n" % (type(arr).__module__,
                                                          type(arr).__name__)).encode()
        assert sorted(n for n in os.listdir(col) if n.endswith(".npy")) == ["data.npy", "mask.npy"]
        for part, want in (("data", arr._data), ("mask", arr._mask)):
            got = np.load(col + "/" + part + ".npy", allow_pickle=False)
            assert got.dtype == want.dtype, (c, part)
            np.testing.assert_array_equal(got, want)
    assert "frame.csv" not in os.listdir(base)


@pytest.mark.parametrize("way", WAYS)
def test_frame_inside_an_estimator(mnt, way):
    src, m = mnt
    est = truth(src, "holder")
    base = os.path.join(m, "holder." + way)
    assert read(base + "/__class__") == b"sklearn.dummy.DummyClassifier\n"
    check_frame(base + "/frame_", est.frame_)


@pytest.mark.parametrize("name", FRAMES + SERIES + ["nullable", "index", "range", "dates", "holder"])
def test_every_way_gives_one_tree(mnt, name):
    """SPEC 3.3: diff -r of the trees shows only the format's own files."""
    src, m = mnt
    ways = WAYS + (["old.pkl"] if name in FRAMES + SERIES + ["nullable"] else [])
    first = os.path.join(m, "%s.%s" % (name, ways[0]))
    for way in ways[1:]:
        other = os.path.join(m, "%s.%s" % (name, way))
        differ = diff_names(first, other)
        assert differ <= FORMAT_DEPENDENT, (way, sorted(differ))
