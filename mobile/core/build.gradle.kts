// Pure Kotlin/JVM: no android.* imports, so every line of logic is unit-testable on a plain JVM.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    compileOnly(libs.android.json) // Android ships org.json; the app must not bundle a second copy
    testImplementation(libs.android.json)
    testImplementation(libs.junit)
}

// The suite talks to live serving instances and reads fixtures made by the serving app's Python
// code; `make -C mobile test` provides both. From Gradle it runs when those are passed in, e.g.
// ./gradlew :core:test -Pmelanoma.url=... (see mobile/tools/run_suite.py for the full list).
tasks.test {
    val keys = listOf("url", "keyedUrl", "apiKey", "keyedMaxBodyBytes", "bundle", "fixtures").map { "melanoma.$it" }
    onlyIf { keys.all { project.hasProperty(it) } }
    keys.forEach { key -> project.findProperty(key)?.let { systemProperty(key, it) } }
    systemProperty("java.awt.headless", "true")
}
