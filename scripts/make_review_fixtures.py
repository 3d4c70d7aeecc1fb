#!/usr/bin/python3
"""make_review_fixtures.py OUT [--forests N] -- pairs of real scikit-learn models, an
old and a retrained version of each, for `modelfs summary` / `modelfs diff` tests,
the demo and the bench.  Written with the real libraries; nothing hand-made.

  forest5.pkl / forest8.pkl         RandomForestClassifier, 5 vs 8 trees (iris)
  pipe_v1.pkl / pipe_v2.pkl         ColumnTransformer(StandardScaler, OneHotEncoder) +
                                    LogisticRegression on a pandas frame with string
                                    categories; v2 retrained on more rows, C=0.1
  text_v1.pkl / text_v2.pkl         TfidfVectorizer + LinearSVC, v2 with a changed vocabulary
  grid_v1.pkl / grid_v2.pkl         GridSearchCV over LogisticRegression's C, v2 a wider grid
  logreg_C1.pkl / logreg_C0.01.pkl  LogisticRegression on iris, C=1.0 vs C=0.01
  forest_frame.pkl                  RandomForestClassifier on a pandas frame (feature names)
  forestN_a.pkl / forestN_b.pkl     with --forests N: two N-tree forests (different seeds)
                                    on 5,000 rows of make_classification
"""
import os
import pickle
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC


def save(obj, out, name):
    tmp = os.path.join(out, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    os.replace(tmp, os.path.join(out, name))


def frame(n, seed):
    rng = np.random.RandomState(seed)
    sex = rng.choice(["female", "male"], n)
    port = rng.choice(["Cherbourg", "Queenstown", "Southampton"], n)
    age = rng.uniform(1, 80, n).round(1)
    fare = rng.exponential(30, n).round(2)
    y = ((sex == "female") ^ (rng.uniform(size=n) < 0.2)).astype(int)
    return pd.DataFrame({"age": age, "fare": fare, "sex": sex, "port": port}), y


def pipeline(C):
    prep = ColumnTransformer([("num", StandardScaler(), ["age", "fare"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "port"])])
    return Pipeline([("prep", prep), ("clf", LogisticRegression(C=C))])


DOCS_V1 = ["the cat sat on the mat", "the dog ate my homework", "a cat and a dog",
           "homework is due", "the mat is red", "dogs chase cats"]
DOCS_V2 = DOCS_V1 + ["a parrot talks", "the parrot ate seeds", "cats ignore parrots"]


def text_model(docs):
    y = np.arange(len(docs)) % 2
    return Pipeline([("tfidf", TfidfVectorizer()), ("svm", LinearSVC(C=0.5, random_state=0))]).fit(docs, y)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    X, y = load_iris(return_X_y=True)
    if "--forests" in sys.argv:
        n = int(sys.argv[sys.argv.index("--forests") + 1])
        from sklearn.datasets import make_classification
        Xb, yb = make_classification(n_samples=5000, n_features=20, n_informative=8, random_state=0)
        for tag, seed in (("a", 0), ("b", 1)):
            save(RandomForestClassifier(n_estimators=n, random_state=seed).fit(Xb, yb), out,
                 "forest%d_%s.pkl" % (n, tag))
        return
    save(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), out, "forest5.pkl")
    save(RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y), out, "forest8.pkl")
    X1, y1 = frame(200, 0)
    X2, y2 = frame(300, 1)
    save(pipeline(1.0).fit(X1, y1), out, "pipe_v1.pkl")
    save(pipeline(0.1).fit(X2, y2), out, "pipe_v2.pkl")
    save(text_model(DOCS_V1), out, "text_v1.pkl")
    save(text_model(DOCS_V2), out, "text_v2.pkl")
    save(GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=3).fit(X, y),
         out, "grid_v1.pkl")
    save(GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 0.1, 10.0, 100.0]}, cv=3).fit(X, y),
         out, "grid_v2.pkl")
    save(LogisticRegression(C=1.0, max_iter=500).fit(X, y), out, "logreg_C1.pkl")
    save(LogisticRegression(C=0.01, max_iter=500).fit(X, y), out, "logreg_C0.01.pkl")
    save(RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X1[["age", "fare"]], y1),
         out, "forest_frame.pkl")


if __name__ == "__main__":
    main()
