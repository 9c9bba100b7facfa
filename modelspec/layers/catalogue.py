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

from ..catalogue.signatures import keras_catalogue, signature_from_class, signature_to_json
from ..catalogue.store import CATALOGUE_PATH
from ..files import write_text
from .shipped import ACTIVATIONS, LAYERS, LOSSES


def generate_catalogue() -> dict[str, Any]:
    """The whole catalogue: Keras's part (this imports Keras) and the shipped layers' part."""
    return keras_catalogue() | {
        "modelspec_layers": {
            name: signature_to_json(signature_from_class(name, cls, "modelspec"))
            for name, cls in sorted(LAYERS.items())
        },
        "modelspec_names": {
            "activations": sorted(ACTIVATIONS),
            "losses": sorted(LOSSES),
        },
    }


def main() -> None:
    """Regenerate ``keras_catalogue.json`` from the installed Keras."""
    data = generate_catalogue()
    write_text(CATALOGUE_PATH, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOGUE_PATH} (keras {data['keras_version']}, {len(data['layers'])} layers)")


if __name__ == "__main__":
    main()
