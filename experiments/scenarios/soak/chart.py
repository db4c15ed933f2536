"""The soak's chart: resources and TTFT over the hour."""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import COLD, DEVICE, HIT, LMCACHE, log_if_wide, plt, save


def soak_over_time(df: pd.DataFrame, out: Path) -> str | None:
    """A soak run's resources and TTFT over time: each server's RSS and open files, the disk tier and
    /dev/shm (from the run's samples.csv), and every call's TTFT (from results.csv)."""
    samples_path = out / "samples.csv"
    if not samples_path.is_file() or not (df["scenario"] == "soak").any():
        return None
    samples = pd.read_csv(samples_path)
    minutes = (samples["t"] - samples["t"].min()) / 60
    t0 = samples["t"].min()
    fig, axes = plt.subplots(4, 1, figsize=(7, 9), sharex=True)
    for col in (c for c in samples.columns if c.endswith("_rss_mib")):
        axes[0].plot(minutes, samples[col], label=col.removesuffix("_rss_mib"))
    axes[0].set_ylabel("RSS, MiB")
    axes[0].legend(fontsize=7, ncol=3)
    for col in (c for c in samples.columns if c.endswith("_fds")):
        axes[1].plot(minutes, samples[col], label=col.removesuffix("_fds"))
    axes[1].set_ylabel("open files")
    axes[2].plot(minutes, samples["shm_used_mib"], label="/dev/shm used")
    if samples["disk_mib"].notna().any():
        axes[2].plot(minutes, samples["disk_mib"], label="LMCache disk tier")
    axes[2].set_ylabel("MiB")
    axes[2].legend(fontsize=7)
    calls = df[df["scenario"] == "soak"]
    for variant, color in (("cold", COLD), ("hit", HIT)):
        rows = calls[calls["variant"] == variant]
        axes[3].scatter((rows["started_at"] - t0) / 60, rows["ttft_ms"], s=6, color=color, label=variant)
    log_if_wide(axes[3], calls["ttft_ms"])
    axes[3].set_ylabel("TTFT, ms")
    axes[3].set_xlabel("minutes into the soak")
    axes[3].legend(fontsize=7)
    axes[0].set_title("Soak: resources and TTFT over time", fontsize=11)
    return save(fig, out, "soak_over_time.png")
