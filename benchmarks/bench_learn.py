"""The learned points pact against the references the field uses, on the same features and split.

Usage: python benchmarks/bench_learn.py [LEADS]   (generated leads, default 20,000)

Side by side, held-out AUC: the learned pact's integer points (at most 40 rules); a logistic
regression on the same features (categories as levels, numbers in deciles); an Explainable
Boosting Machine (`interpret`) with 0 and 10 pairwise interactions; LightGBM. Real data comes
from ../shared/data when it is there: UCI Bank Marketing (`bank-full.csv`, `duration` dropped: it
is known only after the call), Olist's marketing-qualified leads (won = among the closed deals)
and Maven's CRM opportunities. The generated history is learned from the store with a time split;
the learned pact is then back-tested against the example pact. LightGBM needs the `crosscheck`
extra.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from accord.demo import demo_pact
from accord.evaluation import BacktestSpec
from accord.evaluation.compare import compare_pacts
from accord.evaluation.learn import Learned, learn_from_frame, learn_from_store, reference_frame
from accord.evaluation.metrics import auc
from accord.model.tables import TABLES
from accord.store import connect
from accord.synth import generate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_sets() -> dict[str, tuple[pd.DataFrame, str, str | None]]:
    out: dict[str, tuple[pd.DataFrame, str, str | None]] = {}
    if (SHARED / "bank-full.csv").exists():
        bank = pd.read_csv(SHARED / "bank-full.csv", sep=";").drop(columns=["duration"])
        out[f"bank marketing ({len(bank):,}; {(bank.y == 'yes').mean():.1%} yes)"] = (bank, "y", None)
    if (SHARED / "olist_closed_deals.csv").exists():
        mqls = pd.read_csv(SHARED / "olist_marketing_qualified_leads.csv")
        won = set(pd.read_csv(SHARED / "olist_closed_deals.csv").mql_id)
        mqls["won"] = mqls.mql_id.isin(won).astype(int)
        out["olist MQLs (8,000; 10.5% won)"] = (mqls, "won", "mql_id")
    if (SHARED / "maven_crm_sales_pipeline.csv").exists():
        pipe = pd.read_csv(SHARED / "maven_crm_sales_pipeline.csv")
        acc = pd.read_csv(SHARED / "maven_crm_accounts.csv")
        deals = pipe[pipe.deal_stage.isin(["Won", "Lost"])].merge(acc, on="account", how="left")
        deals["won"] = (deals.deal_stage == "Won").astype(int)
        deals = deals.drop(columns=["deal_stage", "close_value", "close_date"])
        out[f"maven CRM deals ({len(deals):,})"] = (deals, "won", "opportunity_id")
    return out


def references(learned: Learned, seed: int) -> dict[str, float]:
    """Held-out AUC of the reference models on the learned pact's features and split."""
    from interpret.glassbox import ExplainableBoostingClassifier
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LogisticRegression

    design, train, y = learned.model.design, learned.train, learned.y
    if design.raw is None or train is None or y is None:
        raise SystemExit("the learned pact carries no split to compare on")
    test = ~train
    raw = reference_frame(design)
    for c in raw.columns:  # missing as a category of its own, as the pact's levels have it
        if raw[c].dtype == "category":
            raw[c] = raw[c].astype("string").fillna("(missing)").astype("category")
    out = {}
    # a plain logistic regression: each category a level, each number in deciles
    levels = pd.DataFrame(index=raw.index)
    for c in raw.columns:
        if raw[c].dtype == "category":
            levels[c] = raw[c].astype(str)
        else:
            levels[c] = pd.qcut(raw[c], 10, duplicates="drop").astype(str)
    X = pd.get_dummies(levels).to_numpy(dtype=float)
    logistic = LogisticRegression(max_iter=5000).fit(X[train], y[train])
    out["logistic"] = auc(logistic.predict_proba(X[test])[:, 1], y[test])
    for pairs in (0, 10):
        ebm = ExplainableBoostingClassifier(interactions=pairs, random_state=seed)
        ebm.fit(raw[train], y[train])
        out[f"EBM {pairs} pairs"] = auc(ebm.predict_proba(raw[test])[:, 1], y[test])
    gbm = LGBMClassifier(random_state=seed, verbose=-1, deterministic=True, force_row_wise=True)
    gbm.fit(raw[train], y[train])
    out["LightGBM"] = auc(gbm.predict_proba(raw[test])[:, 1], y[test])
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rows = []
    for name, (df, outcome, id_col) in real_sets().items():
        started = time.perf_counter()
        learned = learn_from_frame(df, outcome, id_col)
        seconds = time.perf_counter() - started
        rows.append((name, learned, seconds, references(learned, 7)))
    gen = generate(leads=n, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        store = connect(f"duckdb://{Path(tmp) / 'b.duckdb'}")
        for table in ("accounts", "leads", "touchpoints", "opportunities", "stage_changes", "feedback"):
            store.write_arrow(table, gen.tables[table], schema=TABLES[table].schema)
        spec = BacktestSpec()
        started = time.perf_counter()
        learned = learn_from_store(store, demo_pact(), spec)
        seconds = time.perf_counter() - started
        rows.append((f"generated, {n:,} leads (store)", learned, seconds, references(learned, 7)))
        comparison = compare_pacts(store, demo_pact(), learned.pact, spec)
        store.close()
    names = ["logistic", "EBM 0 pairs", "EBM 10 pairs", "LightGBM"]
    print(
        f"{'data':38s} {'pact':>6s} "
        + " ".join(f"{x:>12s}" for x in names)
        + f" {'vs LGBM':>8s} {'rules':>6s} {'s':>6s}"
    )
    for name, lr, secs, ref in rows:
        n_rules = sum(len(m.fit.rules) + len(m.engagement.rules) for m in lr.pact.models.values())
        print(
            f"{name:38s} {lr.auc_points:6.3f} "
            + " ".join(f"{ref[x]:12.3f}" for x in names)
            + f" {lr.auc_points - ref['LightGBM']:+8.3f} {n_rules:6d} {secs:6.1f}"
        )
    print("splits: " + "; ".join(f"{name}: {lr.split}" for name, lr, _, _ in rows))
    t = comparison.table.set_index("metric")
    print(
        f"\nback-test on the generated history: example pact AUC {t.loc['AUC', 'old']:.3f}, learned "
        f"{t.loc['AUC', 'new']:.3f}; MQL precision {t.loc['MQL precision (converted)', 'old']:.1%} -> "
        f"{t.loc['MQL precision (converted)', 'new']:.1%}\n{comparison.sentence}"
    )


if __name__ == "__main__":
    main()
