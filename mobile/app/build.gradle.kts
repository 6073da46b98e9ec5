plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "com.melanomaexp.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "com.melanomaexp.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
    }

    // LiteRT memory-maps the model straight from the APK: it must be stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(project(":core"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.ui.tooling.preview)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.androidx.exifinterface)
    implementation(libs.litert)
    implementation(libs.kotlinx.coroutines.android)
    debugImplementation(libs.androidx.compose.ui.tooling)
}

// Copies the on-device model from an exported bundle (contract 4) into the APK's assets:
// model.json, the one LiteRT model its `on_device.recommended_model` names ("float": files.tflite,
// model.tflite; "int8": files.tflite_int8, model_int8.tflite; no `on_device`, a bundle exported before
// float and int8 were compared: int8, as before), the not-a-lesion check (`ood.file`, ood.tflite)
// and the map of where the model looked (`explain.file`, explain.tflite: about the float model's
// size; run only when the user turns the map on) when the bundle has them. The app picks its model from the same model.json by the same rule (the
// core's ModelJson / ModelSpec.onDeviceModelFile) and says so when the file is missing. Every file
// of a previous export is deleted first, so nothing of it pairs with this model.json.
//   ./gradlew :app:refreshModel -PbundleDir=../outputs/bundle   (relative to mobile/)
val modelAssets = listOf("model.json", "model.tflite", "model_int8.tflite", "ood.tflite", "explain.tflite")
tasks.register("refreshModel") {
    group = "melanoma"
    description = "Copies model.json, its recommended on-device model, ood.tflite and explain.tflite from -PbundleDir into the assets"
    val bundleDir = providers.gradleProperty("bundleDir")
    val mobileDir = rootProject.projectDir
    val assets = layout.projectDirectory.dir("src/main/assets").asFile
    doLast {
        val dir = mobileDir.resolve(
            bundleDir.orNull ?: throw GradleException("pass -PbundleDir=/path/to/bundle (a folder with model.json)")
        )
        val modelJson = dir.resolve("model.json")
        if (!modelJson.isFile) throw GradleException("no model.json in $dir")
        val spec = groovy.json.JsonSlurper().parse(modelJson) as Map<*, *>
        val onDevice = spec["on_device"]
        val recommended = if (onDevice == null) "int8" else (onDevice as? Map<*, *>)?.get("recommended_model")
        val (fileKey, defaultFile) = when (recommended) {
            "float" -> "tflite" to "model.tflite"
            "int8" -> "tflite_int8" to "model_int8.tflite"
            else -> throw GradleException(
                "$modelJson: model.json.on_device.recommended_model must be 'float' or 'int8', got '$recommended'"
            )
        }
        val model = (spec["files"] as? Map<*, *>)?.get(fileKey)?.toString() ?: defaultFile
        val ood = (spec["ood"] as? Map<*, *>)?.takeIf { it.isNotEmpty() }?.let { it["file"]?.toString() ?: "ood.tflite" }
        // Absent, null or empty (an older export, an ensemble): no map, as the app reads it.
        val explain = (spec["explain"] as? Map<*, *>)?.takeIf { it.isNotEmpty() }?.let { it["file"]?.toString() ?: "explain.tflite" }
        (modelAssets + listOfNotNull(model, ood, explain)).forEach { assets.resolve(it).delete() }
        assets.mkdirs()
        for (name in listOfNotNull("model.json", model, ood, explain)) {
            val source = dir.resolve(name)
            if (!source.isFile) {
                // Like a server whose bundle lacks it, the app then analyses without it (and says so).
                when (name) {
                    ood -> logger.warn("$source is missing: this build has no not-a-lesion check")
                    explain -> logger.warn("$source is missing: this build draws no map of where the model looked")
                    else -> throw GradleException("$source is missing (model.json names it)")
                }
                continue
            }
            source.copyTo(assets.resolve(name), overwrite = true)
        }
        logger.lifecycle("on-device model: $model (model.json on_device.recommended_model: $recommended)")
    }
}
