"""Out-of-distribution check: "this does not look like a skin-lesion photo".

The thesis proposed a "not a mole" class; instead of a third class (which needs non-lesion training
data of every kind) this scores how far an image's backbone features lie from the training
distribution: the Mahalanobis distance to the nearest class mean under a shared covariance
(Lee et al., 2018). Features are first reduced with PCA (fit on training features) because a full
1280-dimensional covariance neither estimates well from a few hundred images nor fits in model.json;
the covariance is Ledoit–Wolf shrunk for the same reason.

The threshold is fitted on validation lesions plus non-lesion images so that at most
``max_lesion_rejection`` of real lesions are called "not a lesion" while as many non-lesion images
as possible are caught. The whole detector serialises to a JSON dict for the bundle; the serving app
reports a score above the threshold as the quality issue ``not_a_lesion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass
class MahalanobisOOD:
    """PCA + class means + shared precision matrix + threshold; see the module docstring."""

    n_components: int = 32
    pca_mean: np.ndarray | None = None
    pca_components: np.ndarray | None = None
    class_means: np.ndarray | None = None
    precision: np.ndarray | None = None
    threshold: float | None = None
    meta: dict = field(default_factory=dict)

    def fit(self, features, labels) -> MahalanobisOOD:
        """Fit PCA, per-class means and the shared covariance on *training* features."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels).astype(int).ravel()
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(f"features must be (N, D) with N labels; got {x.shape} and {y.shape}")
        k = int(min(self.n_components, x.shape[1], len(x) - 1))
        pca = PCA(n_components=k, random_state=0).fit(x)
        self.pca_mean, self.pca_components = pca.mean_, pca.components_
        z = self._project(x)
        classes = np.unique(y)
        self.class_means = np.stack([z[y == c].mean(axis=0) for c in classes])
        centred = np.concatenate([z[y == c] - self.class_means[i] for i, c in enumerate(classes)])
        self.precision = LedoitWolf().fit(centred).precision_
        self.meta.update({"n_train": int(len(x)), "feature_dim": int(x.shape[1]), "n_components": k})
        return self

    def _project(self, features) -> np.ndarray:
        if self.pca_components is None:
            raise RuntimeError("MahalanobisOOD is not fitted: call fit() first")
        return (np.asarray(features, dtype=np.float64) - self.pca_mean) @ self.pca_components.T

    def score(self, features) -> np.ndarray:
        """Distance to the nearest class mean (higher = less like the training lesions)."""
        z = self._project(features)
        d = cdist(z, self.class_means, metric="mahalanobis", VI=self.precision)
        return d.min(axis=1)

    def fit_threshold(self, lesion_features, non_lesion_features, max_lesion_rejection: float = 0.05) -> dict:
        """Pick the threshold from validation lesions (keep) and non-lesion images (reject).

        Returns:
            What the threshold achieves on these sets: lesion rejection rate, non-lesion detection
            rate and the AUROC of the score.
        """
        s_in, s_out = self.score(lesion_features), self.score(non_lesion_features)
        y = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
        s = np.r_[s_in, s_out]
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        # Lowest threshold (most non-lesions caught) that still rejects few enough real lesions.
        ok = np.flatnonzero(fpr <= max_lesion_rejection)
        self.threshold = float(thr[ok[-1]]) if np.isfinite(thr[ok[-1]]) else float(s.max() + 1.0)
        fit = self.evaluate(lesion_features, non_lesion_features)
        fit["max_lesion_rejection"] = max_lesion_rejection
        self.meta["threshold_fit"] = fit
        return fit

    def is_out_of_distribution(self, features) -> np.ndarray:
        """True where the score is at or above the fitted threshold."""
        if self.threshold is None:
            raise RuntimeError("no OOD threshold: call fit_threshold() first")
        return self.score(features) >= self.threshold

    def evaluate(self, lesion_features, non_lesion_features) -> dict:
        """AUROC of lesion-vs-non-lesion and the rates at the threshold."""
        s_in, s_out = self.score(lesion_features), self.score(non_lesion_features)
        out = {
            "auroc": float(roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s_out))], np.r_[s_in, s_out])),
            "n_lesion": int(len(s_in)),
            "n_non_lesion": int(len(s_out)),
        }
        if self.threshold is not None:
            out["lesion_rejection_rate"] = float(np.mean(s_in >= self.threshold))
            out["non_lesion_detection_rate"] = float(np.mean(s_out >= self.threshold))
        return out

    def to_dict(self) -> dict:
        """JSON-ready dict for model.json (``ood``)."""
        return {
            "method": "mahalanobis",
            "threshold": self.threshold,
            "n_components": int(self.pca_components.shape[0]),
            "pca_mean": self.pca_mean.tolist(),
            "pca_components": self.pca_components.tolist(),
            "class_means": self.class_means.tolist(),
            "precision": self.precision.tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> MahalanobisOOD:
        """Inverse of ``to_dict``."""
        if d.get("method") != "mahalanobis":
            raise ValueError(f"OOD method {d.get('method')!r} is not 'mahalanobis'")
        return cls(
            n_components=int(d["n_components"]),
            pca_mean=np.asarray(d["pca_mean"]),
            pca_components=np.asarray(d["pca_components"]),
            class_means=np.asarray(d["class_means"]),
            precision=np.asarray(d["precision"]),
            threshold=d["threshold"],
            meta=dict(d.get("meta", {})),
        )


def feature_extractor(model, layer_name: str = "backbone"):
    """A Keras model from the classifier's input to pooled backbone features (N, D).

    Args:
        model: the trained classifier (input 0–255 RGB).
        layer_name: the layer whose output is the feature space (the trainer names the backbone
            ``backbone``); a 4-D output is global-average pooled.
    """
    import keras

    try:
        layer = model.get_layer(layer_name)
    except ValueError as err:
        names = ", ".join(lyr.name for lyr in model.layers)
        raise ValueError(f"OOD feature layer {layer_name!r} not in model. Layers: {names}") from err
    # A nested backbone (a Model used as a layer) has two nodes: its own inner graph and the call
    # inside the classifier; only the latter is connected to the classifier's input.
    nodes = list(reversed(getattr(layer, "_inbound_nodes", []) or []))
    candidates = [n.output_tensors[0] for n in nodes if getattr(n, "output_tensors", None)] or [layer.output]
    for out in candidates:
        if len(out.shape) == 4:
            out = keras.layers.GlobalAveragePooling2D(name="ood_pool")(out)
        try:
            return keras.Model(model.inputs, out, name="ood_features")
        except ValueError:
            continue
    raise ValueError(f"OOD feature layer {layer_name!r} is not connected to the input of {model.name!r}")


def ood_score_model(model, detector: MahalanobisOOD, layer_name: str = "backbone"):
    """A Keras model: image (0–255) -> squared Mahalanobis distance to the nearest class mean.

    Built from standard layers with fixed weights, so it saves and converts to LiteRT like the
    classifier (a bundle can carry it as a second file; compare its output with ``threshold**2``).
    With P = L Lᵀ (Cholesky), (z−μ)ᵀ P (z−μ) = ‖Lᵀz − Lᵀμ‖², i.e. a Dense layer and a sum of squares.
    """
    import keras

    if detector.threshold is None:
        raise RuntimeError("no OOD threshold: call fit_threshold() first")
    features = feature_extractor(model, layer_name)
    project = keras.layers.Dense(detector.pca_components.shape[0], name="ood_pca")
    z = project(features.output)
    project.set_weights([detector.pca_components.T.astype("float32"),
                         (-detector.pca_mean @ detector.pca_components.T).astype("float32")])
    chol = np.linalg.cholesky(detector.precision)
    distances = []
    for c, mean in enumerate(detector.class_means):
        whiten = keras.layers.Dense(chol.shape[0], name=f"ood_whiten_{c}")
        u = whiten(z)
        whiten.set_weights([chol.astype("float32"), (-mean @ chol).astype("float32")])
        squared = keras.layers.Multiply(name=f"ood_square_{c}")([u, u])
        total = keras.layers.Dense(1, use_bias=False, name=f"ood_sum_{c}")
        distances.append(total(squared))
        total.set_weights([np.ones((chol.shape[0], 1), "float32")])
    out = distances[0] if len(distances) == 1 else keras.layers.Minimum(name="ood_distance2")(distances)
    return keras.Model(features.inputs, out, name="ood_score")
