"""The UI under Textual's Pilot and snapshots, fed by fake event sources, not Keras."""
