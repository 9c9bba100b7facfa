"""Write ``modelspec/catalogue/keras_catalogue.json`` from the installed Keras and these layers.

``make catalogue`` runs ``python -m modelspec.layers.catalogue`` after a Keras
upgrade or a change to a shipped layer; a test checks that the catalogue in
use matches what this generates.

Example:
    >>> sorted(generate_catalogue()["modelspec_layers"])[:2]
    ['AddLoss', 'Antirectifier']
"""

from __future__ import annotations

import json
from typing import Any

from ..catalogue.backbones import hub_catalogue, keras_part
from ..catalogue.signatures import signature_from_class, signature_to_json
from ..catalogue.store import CATALOGUE_PATH
from ..files import write_text
from .shipped import ACTIVATIONS, LAYERS, LOSSES


def hub_part() -> dict[str, Any]:
    """The KerasHub layers' part, from the installed KerasHub; without one, the
    shipped file's part (KerasHub is an optional extra)."""
    part = hub_catalogue()
    if part is not None:
        return part
    with CATALOGUE_PATH.open(encoding="utf-8") as f:
        shipped = json.load(f)
    return {key: shipped.get(key, {}) for key in ("keras_hub_version", "hub_layers")}


def generate_catalogue() -> dict[str, Any]:
    """The whole catalogue: Keras's part (this imports Keras), KerasHub's part and
    the shipped layers' part."""
    return (
        keras_part()
        | hub_part()
        | {
            "modelspec_layers": {
                name: signature_to_json(signature_from_class(name, cls, "modelspec"))
                for name, cls in sorted(LAYERS.items())
            },
            "modelspec_names": {
                "activations": sorted(ACTIVATIONS),
                "losses": sorted(LOSSES),
            },
        }
    )


def main() -> None:
    """Regenerate ``keras_catalogue.json`` from the installed Keras."""
    if hub_catalogue() is None:
        print("warning: KerasHub is not installed: the hub layers' part is kept as it was")
    data = generate_catalogue()
    write_text(CATALOGUE_PATH, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(
        f"wrote {CATALOGUE_PATH} (keras {data['keras_version']}, {len(data['layers'])} layers, "
        f"{len(data['applications'])} applications, keras-hub {data['keras_hub_version']}, "
        f"{len(data['hub_layers'])} hub layers)"
    )


if __name__ == "__main__":
    main()
