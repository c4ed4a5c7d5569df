"""Growth and movers: year-on-year change and rank change; tier movement between two
measures (e.g. cognition vs application demand)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from aicity.analysis.rankings import band_tiers, rank_values, DEFAULT_BANDS


def growth_table(current: pd.Series, previous: pd.Series) -> pd.DataFrame:
    """value, previous, change (fraction; NaN when the previous value is 0 or missing), rank,
    previous_rank, rank_change (positive = moved up)."""
    frame = pd.DataFrame({"value": current, "previous": previous.reindex(current.index)})
    prev = frame["previous"]
    frame["change"] = (frame["value"] - prev) / prev.where(prev > 0)
    frame["rank"] = rank_values(frame["value"]).astype("Int64")
    frame["previous_rank"] = rank_values(frame["previous"]).astype("Int64")
    frame["rank_change"] = (frame["previous_rank"] - frame["rank"]).astype("Int64")
    return frame.sort_values("rank", na_position="last")


def movers(table: pd.DataFrame, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `n` largest risers and fallers by rank change (ties broken by growth)."""
    ok = table.dropna(subset=["rank_change"])
    risers = ok[ok["rank_change"] > 0].sort_values(["rank_change", "change"],
                                                   ascending=[False, False]).head(n)
    fallers = ok[ok["rank_change"] < 0].sort_values(["rank_change", "change"],
                                                    ascending=[True, True]).head(n)
    return risers, fallers


def tier_movement(first: pd.Series, second: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS
                  ) -> pd.DataFrame:
    """Tiers of each region under two measures and the move between them (negative = a better
    tier under the second measure): the report's 'rose into the second tier of demand'."""
    t1 = band_tiers(rank_values(first), bands)
    t2 = band_tiers(rank_values(second.reindex(first.index)), bands)
    frame = pd.DataFrame({"first_tier": t1, "second_tier": t2})
    frame["move"] = (frame["second_tier"] - frame["first_tier"]).astype("Int64")
    move = frame["move"].astype(float)
    frame["direction"] = np.select([(move < 0).to_numpy(), (move > 0).to_numpy()],
                                   ["up", "down"], default="same")
    frame.loc[frame["move"].isna(), "direction"] = ""
    return frame
