"""The incident graph's working tables on disk: the forensic reconstruction, saved once, loaded by path.

The review graph's state holds only JSON and *paths*; the reconstruction every team reads (a dataclass
tree with numpy arrays, datetimes, tuples, Counters...) is written here by the forensics node and loaded
by each team node from the path in its state, so any process resuming the run from its checkpoint can
read it. The format is plain JSON with type tags: no pickle, and decoding builds only classes from
``ALLOWED_MODULES`` (never code named by the file).

Failure contract: ``save`` raises ``TypeError`` for a value it cannot represent faithfully (it never
writes a lossy copy) and ``OSError`` when the file cannot be written (the write is atomic: a temporary
file, then a rename). ``load`` raises ``OSError`` for a missing file and ``ValueError`` for a corrupt one
or one naming a class outside ``ALLOWED_MODULES``.
"""
from __future__ import annotations

import base64
import dataclasses
import enum
import json
import pkgutil
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel

FORMAT = "warden-review-table/1"
ALLOWED_MODULES = ("tools.", "trading.")


def _cls_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _tz(tz: Any) -> Any:
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo):
        return {"zone": tz.key}
    off = tz.utcoffset(None)
    if isinstance(tz, timezone) and off is not None:
        return {"offset": off.total_seconds()}
    raise TypeError(f"cannot store time zone {tz!r}")


def encode(obj: Any) -> Any:
    """``obj`` as JSON types with type tags (lists stay lists; everything else that is not JSON is tagged)."""
    if obj is None or type(obj) in (bool, str, int, float):
        return obj
    if isinstance(obj, enum.Enum):
        return {"$": "enum", "c": _cls_name(obj), "v": encode(obj.value)}
    if type(obj) is list:
        return [encode(v) for v in obj]
    if isinstance(obj, tuple) and type(obj) is tuple:
        return {"$": "tuple", "v": [encode(v) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"$": type(obj).__name__, "v": [encode(v) for v in obj]}
    if type(obj) in (dict, Counter):
        return {"$": "counter" if isinstance(obj, Counter) else "dict",
                "k": [encode(k) for k in obj], "v": [encode(v) for v in obj.values()]}
    if isinstance(obj, datetime):
        return {"$": "datetime", "v": obj.replace(tzinfo=None).isoformat(), "tz": _tz(obj.tzinfo),
                "fold": obj.fold}
    if isinstance(obj, date):
        return {"$": "date", "v": obj.isoformat()}
    if isinstance(obj, timedelta):
        return {"$": "timedelta", "v": obj.total_seconds()}
    if isinstance(obj, ZoneInfo):
        return {"$": "zoneinfo", "v": obj.key}
    if isinstance(obj, PurePath):
        return {"$": "path", "v": str(obj)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("cannot store a numpy array of Python objects")
        arr = np.ascontiguousarray(obj)
        return {"$": "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape),
                "b": base64.b64encode(arr.tobytes()).decode("ascii")}
    if isinstance(obj, np.generic):
        return {"$": "npscalar", "dtype": obj.dtype.str, "v": encode(obj.item())}
    if isinstance(obj, BaseModel):
        return {"$": "model", "c": _cls_name(obj), "v": encode(dict(obj)),
                "set": sorted(obj.model_fields_set)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = [f.name for f in dataclasses.fields(obj)]
        extra = set(getattr(obj, "__dict__", {})) - set(names)
        if extra:
            raise TypeError(f"cannot store {_cls_name(obj)} faithfully: attributes outside its fields {extra}")
        return {"$": "dataclass", "c": _cls_name(obj), "f": {n: encode(getattr(obj, n)) for n in names}}
    raise TypeError(f"cannot store a {type(obj).__module__}.{type(obj).__qualname__} faithfully")


def _class(name: str) -> type:
    if not name.partition(":")[0].startswith(ALLOWED_MODULES):
        raise ValueError(f"class {name} is outside the allowed modules {ALLOWED_MODULES}")
    try:
        obj = pkgutil.resolve_name(name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"unknown class {name}: {exc}") from exc
    if not isinstance(obj, type):
        raise ValueError(f"{name} is not a class")
    return obj


def _untz(raw: Any) -> Any:
    if raw is None:
        return None
    if "zone" in raw:
        return ZoneInfo(raw["zone"])
    return timezone(timedelta(seconds=raw["offset"]))


def decode(raw: Any) -> Any:
    """The inverse of ``encode``."""
    if isinstance(raw, list):
        return [decode(v) for v in raw]
    if not isinstance(raw, dict):
        return raw
    tag = raw.get("$")
    if tag == "tuple":
        return tuple(decode(v) for v in raw["v"])
    if tag in ("set", "frozenset"):
        return (set if tag == "set" else frozenset)(decode(v) for v in raw["v"])
    if tag in ("dict", "counter"):
        d = {decode(k): decode(v) for k, v in zip(raw["k"], raw["v"], strict=True)}
        return Counter(d) if tag == "counter" else d
    if tag == "datetime":
        return datetime.fromisoformat(raw["v"]).replace(tzinfo=_untz(raw["tz"]), fold=raw["fold"])
    if tag == "date":
        return date.fromisoformat(raw["v"])
    if tag == "timedelta":
        return timedelta(seconds=raw["v"])
    if tag == "zoneinfo":
        return ZoneInfo(raw["v"])
    if tag == "path":
        return Path(raw["v"])
    if tag == "ndarray":
        buf = base64.b64decode(raw["b"])
        return np.frombuffer(buf, dtype=np.dtype(raw["dtype"])).reshape(raw["shape"]).copy()
    if tag == "npscalar":
        return np.dtype(raw["dtype"]).type(decode(raw["v"]))
    if tag == "enum":
        return _class(raw["c"])(decode(raw["v"]))
    if tag == "model":
        model = _class(raw["c"])
        if not issubclass(model, BaseModel):
            raise ValueError(f"{raw['c']} is not a pydantic model")
        return model.model_construct(_fields_set=set(raw["set"]), **decode(raw["v"]))
    if tag == "dataclass":
        cls = _class(raw["c"])
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"{raw['c']} is not a dataclass")
        obj = cls.__new__(cls)
        for name, val in raw["f"].items():
            object.__setattr__(obj, name, decode(val))   # frozen dataclasses too
        return obj
    raise ValueError(f"unknown type tag {tag!r}")


def save(obj: Any, path: Path | str) -> Path:
    """Write ``obj`` to ``path`` atomically; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "value": encode(obj)}, separators=(",", ":")))
    tmp.replace(p)
    return p


def load(path: Path | str) -> Any:
    """Read back what ``save`` wrote."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a review table file: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    try:
        return decode(doc["value"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: corrupt review table: {type(exc).__name__}: {exc}") from exc
