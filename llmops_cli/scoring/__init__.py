"""Scorers: assertion types behind one registry, the refusal classifier, per-call scoring."""
