"""Batch re-inspection: `inspector batch` (command), its inputs, local and Ray runners, the results store
(the one owner of results.csv/.jsonl), heatmaps and report.html, plus `inspector compare` and `inspector benchmark`.

Importing the package imports nothing heavy; each verb's module is named by inspector.cli."""
