"""``python -m inpainting.bench`` (``inpainting-bench``): the command line of the throughput
comparison (:mod:`.throughput`), the step parts (:mod:`.parts`) and the roofs (:mod:`.roofs`)."""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

from ..disk import results_dir, save_table
from ..profiles import get_profile, parse_overrides, with_overrides
from ..runtime import select_device
from . import throughput
from .common import machine_line
from .roofs import PRECISIONS
from .throughput import PARTS_REPS, QUICK_REPS, ROOF_REPS, amp_flags, run

QUICK_BATCH = 4   # a GLCIC step at 128 px and batch 16 alone takes 15 s on 2 AVX2 cores

def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (module docstring); usage errors exit with status 2."""
    from .parts import STAGES, resolve_variants
    from ..profiles import PROFILES
    parser = argparse.ArgumentParser(prog="python -m inpainting.bench",
        description=throughput.__doc__.split("\n")[0],
        epilog="--parts: where the time of each kind of training step goes (inpainting.bench.parts);"
               " --roofs: the lite full step's FLOP rate against the matmul and convolution roofs "
               "(inpainting.bench.roofs); neither: the generator comparison above.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--data-only", action="store_true",
                      help="only the input-pipeline rows and the lite 128-px training step "
                           "(written to bench_data.csv)")
    mode.add_argument("--parts", action="store_true",
                      help="per-part times of every kind of training step of --profile "
                           "(parts_<profile>_<size>px.csv and parts_summary_...csv)")
    mode.add_argument("--roofs", action="store_true",
                      help="the lite full step against the matmul and convolution roofs "
                           "(roofs_<profile>.csv and roofs_convs_<profile>.csv)")
    parser.add_argument("--sizes", type=_positive(int), nargs="+", default=None,
                        help="image sizes (default 64 128; --parts: the profile's own size)")
    parser.add_argument("--batch", type=_positive(int), default=None,
                        help=f"batch size (default 16, --quick {QUICK_BATCH}; --parts / --roofs: the "
                             "profile's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true",
                        help=f"fewer repetitions ({QUICK_REPS}), batch {QUICK_BATCH}, no torch.compile, "
                             "short data rows")
    parser.add_argument("--reps", type=_positive(int), default=None,
                        help=f"timed repetitions (--parts default {PARTS_REPS}, --roofs "
                             f"{ROOF_REPS}; --quick {QUICK_REPS})")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="--parts / --roofs: the profile whose steps are measured (default demo)")
    parser.add_argument("--overrides", default=None,
                        help="--parts / --roofs: overrides of --profile as a JSON object, e.g. "
                             "'{\"train.channels_last\": true}'")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="--parts: only the steps these variants take (e.g. warm full relu5_1 "
                             "GLCIC CE)")
    parser.add_argument("--roles", nargs="+", choices=("faces", "facades"), default=None,
                        help="--parts: datasets (default faces; facades runs the same models on "
                             "other images)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=None,
                        help="--parts: only these stages")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="precisions of the training steps (the trainer's train.amp: "
                             "bfloat16 on a CPU, float16 on CUDA); default float32 and the mixed "
                             "precision where its kernels are native (emulated bfloat16 only when "
                             "asked for)")
    parser.add_argument("--threads", type=_positive(int), default=None,
                        help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    only = {"--parts": ("variants", "roles", "stages")}
    for flag, names in only.items():
        for name in names:
            if getattr(args, name) is not None and not getattr(args, flag[2:]):
                parser.error(f"--{name} applies to {flag} only")
    for name in ("profile", "overrides"):
        if getattr(args, name) is not None and not (args.parts or args.roofs):
            parser.error(f"--{name} applies to --parts and --roofs only")
    try:
        get_profile(args.profile or "demo", args.overrides)
    except (TypeError, ValueError) as exc:
        parser.error(f"--overrides: {exc}")
    if args.precisions is not None and (args.parts or args.data_only):
        parser.error("--precisions applies to --roofs and the generator comparison only (--parts "
                     "uses the profile's own precision)")
    if args.parts and args.sizes is not None and len(args.sizes) > 1:
        parser.error("--parts measures one size at a time (--sizes S)")
    if args.variants is not None:
        try:
            args.variants = resolve_variants(args.variants)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def _show(df: pd.DataFrame, columns: list[str] | None = None) -> None:
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.max_colwidth", 60, "display.float_format", "{:.3g}".format):
        print((df if columns is None else df[[c for c in columns if c in df]]).to_string(index=False))


def main_parts(args: argparse.Namespace) -> pd.DataFrame:
    from .parts import TOLERANCE, run_parts, select_kinds, step_kinds, summary, with_size
    profile = with_size(get_profile(args.profile or "demo", args.overrides),
                        args.sizes[0] if args.sizes else None)
    overrides = {"train.device": args.device, **({"train.batch_size": args.batch} if args.batch else {})}
    profile = with_overrides(profile, overrides)
    kinds = select_kinds(step_kinds(profile, args.roles or ["faces"]), args.variants, args.stages)
    if not kinds:
        raise SystemExit("no step kind matches --variants / --stages")
    reps = args.reps or (QUICK_REPS if args.quick else PARTS_REPS)
    print(f"{len(kinds)} kinds of step of profile {profile.name} at {profile.faces.image_size} px, "
          f"{reps} repetitions each (+1 warm-up)", flush=True)
    df = run_parts(profile, kinds, reps, log=lambda m: print(m, flush=True))
    table = summary(df)
    size = int(df["size"].iloc[0])
    print(f"\nPer part (ms over {reps} steps; % of the sum of part medians):")
    for kind, sub in df.groupby("kind", sort=False):
        print(f"\n{kind}  [{sub.variants.iloc[0]}]")
        _show(sub, ["part", "group", "ms_median", "ms_min", "ms_max", "pct_of_step"])
    print(f"\nShare of the step per group (%), sum of part medians vs the whole step measured "
          f"interleaved (check: within {100 * TOLERANCE:.0f} %); {df.threads.iloc[0]} threads, "
          f"{df.device_name.iloc[0]}, precision {df.precision.iloc[0]}, batch {df.batch.iloc[0]}:")
    _show(table)
    out = results_dir("bench")
    for frame, name in ((df, "parts"), (table, "parts_summary")):
        print(f"wrote {save_table(frame, out / f'{name}_{profile.name}_{size}px.csv')}")
    return df


def main_roofs(args: argparse.Namespace) -> pd.DataFrame:
    from .roofs import run_roofs
    profile = get_profile(args.profile or "demo", {**parse_overrides(args.overrides),
                                                   "train.device": args.device})
    device = select_device(args.device)
    reps = args.reps or (QUICK_REPS if args.quick else ROOF_REPS)
    df, convs = run_roofs(profile, args.sizes or [64, 128], args.precisions, device,
                          reps, reps, args.batch, log=lambda m: print(m, flush=True))
    print(f"\nThe lite full step of profile {profile.name} against the roofs "
          f"({df.threads.iloc[0]} threads, {df.device_name.iloc[0]}, {df.isa.iloc[0]}):")
    _show(df, ["size", "precision", "kernels", "batch", "step_gflop", "step_ms_best",
               "step_ms_median", "gflop_per_s", "matmul_fp32_gflops", "matmul_threads", "pct_matmul_fp32",
               "matmul_same_precision_gflops", "pct_matmul_same_precision", "conv_roof_gflops",
               "pct_conv_roof", "conv_share_of_flops", "conv_alone_ms", "load_start", "load_end"])
    print("\nSlowest convolutions alone (ms for all of the step's calls of that shape):")
    for (size, precision), sub in convs.groupby(["size", "precision"], sort=False):
        print(f"\n{size}px {precision}")
        _show(sub.sort_values("ms", ascending=False).head(8),
              ["op", "input", "weight", "layout", "calls", "ms", "gflop_per_s"])
    out = results_dir("bench")
    print(f"wrote {save_table(df, out / f'roofs_{profile.name}.csv')}")
    print(f"wrote {save_table(convs, out / f'roofs_convs_{profile.name}.csv')}")
    return df


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    if args.precisions and not args.roofs:
        try:
            amp_flags(args.precisions, device)
        except ValueError as exc:
            raise SystemExit(f"python -m inpainting.bench: {exc}") from None
    print(f"measured on: {machine_line(device)}", flush=True)
    if args.parts:
        main_parts(args)
    elif args.roofs:
        main_roofs(args)
    else:
        main_comparison(args)
    # the load at the end too: a figure taken while the load changed is not this machine's best
    print(f"measured on: {machine_line(device)}", flush=True)
    return 0


def main_comparison(args: argparse.Namespace) -> pd.DataFrame:
    df = run(args.sizes or [64, 128], args.batch or (QUICK_BATCH if args.quick else 16), args.device, args.quick, args.data_only,
             args.precisions)
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.float_format", "{:.3g}".format):
        print(df.drop(columns=["note", "device_name", "torch"], errors="ignore").to_string(index=False))
        print(df[["benchmark", "generator", "option", "note"]].dropna().to_string(index=False))
    path = save_table(df, results_dir("bench") / ("bench_data.csv" if args.data_only else "bench.csv"))
    print(f"wrote {path}")
    return df


if __name__ == "__main__":
    sys.exit(main())
