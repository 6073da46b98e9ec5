package com.melanomaexp.app

import android.content.Context
import com.melanomaexp.core.ApiClient
import com.melanomaexp.core.ModelJson
import com.melanomaexp.core.ModelSpec
import com.melanomaexp.core.OnDeviceAnalyzer

/**
 * Builds the core's objects with their Android implementations: settings on SharedPreferences,
 * the bundled model (assets/model.json + assets/model_int8.tflite) on LiteRT, photos on Bitmap.
 */
class AppContainer(private val context: Context) {
    val settings = SettingsStore(context)

    /** The bundled model.json, or null when the APK was built without a model (see README). */
    val bundledSpec: ModelSpec? by lazy {
        runCatching { context.assets.open(MODEL_JSON).use { ModelJson.parse(it.readBytes().decodeToString()) } }.getOrNull()
    }

    private val analyzer: OnDeviceAnalyzer by lazy {
        val spec = bundledSpec ?: throw IllegalStateException(
            "This build has no bundled model. Copy model.json and model_int8.tflite from an export " +
                "into app/src/main/assets (./gradlew :app:refreshModel -PbundleDir=...) and rebuild."
        )
        val decodeSide = maxOf(spec.input.height, spec.input.width, spec.qualityGate.analysisMaxSidePx)
        OnDeviceAnalyzer(spec, BitmapImageDecoder(decodeSide), LiteRtModel(context, MODEL_TFLITE, spec))
    }

    /** A client for the endpoint currently in the settings. */
    fun apiClient(): ApiClient = ApiClient(settings.load().endpoint())

    /** The on-device analyzer (LiteRT is loaded on first use, off the main thread). */
    fun onDeviceAnalyzer(): OnDeviceAnalyzer = analyzer

    companion object {
        const val MODEL_JSON = "model.json"
        const val MODEL_TFLITE = "model_int8.tflite"
    }
}
