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

// Copies the on-device model from an exported bundle (contract 4) into the APK's assets, with the
// not-a-lesion check (ood.tflite) when the bundle has one:
//   ./gradlew :app:refreshModel -PbundleDir=../outputs/bundle   (relative to mobile/)
val modelAssets = listOf("model_int8.tflite", "model.json", "ood.tflite")
tasks.register<Copy>("refreshModel") {
    val bundle = providers.gradleProperty("bundleDir").map { rootProject.file(it) } // relative to mobile/
    val assets = layout.projectDirectory.dir("src/main/assets")
    from(bundle) { include(modelAssets) }
    into(assets)
    doFirst {
        val dir = bundle.orNull ?: throw GradleException("pass -PbundleDir=/path/to/bundle (a folder with model.json)")
        if (!dir.resolve("model.json").isFile) throw GradleException("no model.json in $dir")
        // A previous export's ood.tflite must never pair with this model.json's threshold.
        modelAssets.forEach { assets.file(it).asFile.delete() }
    }
}
