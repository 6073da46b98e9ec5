"""melanoma-exp: config-driven experiments for skin-lesion classifiers.

Importing the package is cheap on purpose (no TensorFlow): the CLI, Hydra plugins and the
serving side import pieces of it without paying for a TensorFlow start-up.
"""

__version__ = "0.1.0"

# The one place the not-medical-advice text lives on the training side; the export writes it into
# every bundle's model.json, which is where serving and the app read it from.
DISCLAIMER = (
    "This is a research tool, not a medical device, and its output is not medical advice or a "
    "diagnosis. A 'benign' result does not mean a lesion is harmless. If a mole is new, changing, "
    "itching, bleeding, or worries you, see a dermatologist or doctor."
)
