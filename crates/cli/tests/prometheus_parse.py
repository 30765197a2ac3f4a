"""Parses Prometheus' text exposition format from stdin with the official Python client's
parser and prints what it read as JSON: one object per family, with its samples. A body the
parser refuses makes it raise, and the script exit non-zero with the parser's message."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append(
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples
            ],
        }
    )
json.dump(families, sys.stdout)
