#!/usr/bin/python3
"""make_sklearn_defaults.py -- write data/sklearn_defaults.txt: the default of every
constructor parameter of every scikit-learn estimator, as the installed scikit-learn
defines it.  summary.txt marks a hyperparameter that differs from these.

Run with the real library (`/usr/bin/python3 scripts/make_sklearn_defaults.py >
data/sklearn_defaults.txt`); the file names the version it came from.  Only defaults
with a plain repr (None, bool, int, float, str and tuples of those) are written;
others (estimator objects, callables, arrays) are written as `?`: not compared.
"""
import inspect
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy
import sklearn
from sklearn.utils import all_estimators


def plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return not isinstance(v, float) or v == v
    if isinstance(v, tuple):
        return all(plain(x) for x in v)
    return False


def main():
    out = sys.stdout
    out.write("# scikit-learn defaults per class: sklearn %s (numpy %s), written by\n"
              % (sklearn.__version__, numpy.__version__))
    out.write("# scripts/make_sklearn_defaults.py from the installed library.\n")
    out.write("# module.qualname<TAB>parameter<TAB>repr of the default (? = not comparable)\n")
    out.write("@version\t%s\n" % sklearn.__version__)
    rows = []
    for name, cls in all_estimators():
        try:
            sig = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            continue
        dotted = cls.__module__ + "." + cls.__qualname__
        for p in sig.parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is inspect.Parameter.empty:
                d = "?"
            elif plain(p.default):
                d = repr(p.default)
            else:
                d = "?"
            rows.append((dotted, p.name, d))
    for r in sorted(rows):
        out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
