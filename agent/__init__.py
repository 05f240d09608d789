"""ScanGate agent: everything that is not a screen.

The agent identifies the performer in front of the rig camera, checks their
consent with the production's registry, and only then unlocks capture. This
package never imports Qt, ``gui`` or ``registry`` (enforced by an
import-linter contract and a test).
"""

__version__ = "0.1.0"
