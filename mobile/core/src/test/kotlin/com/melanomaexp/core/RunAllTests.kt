package com.melanomaexp.core

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

/** Every test class of the core; a class missing here would silently not run, so keep it complete. */
val ALL_TEST_CLASSES: List<Class<*>> = listOf(
    ApiJsonTest::class.java,
    ModelJsonTest::class.java,
    FlowMachineTest::class.java,
    PresentationTest::class.java,
    SettingsTest::class.java,
    PreprocessingParityTest::class.java,
    QualityParityTest::class.java,
    OrientationTest::class.java,
    OnDeviceAnalyzerTest::class.java,
    NotALesionTest::class.java,
    ApiClientLiveTest::class.java,
    ApiClientFailureTest::class.java,
)

/** Prints one line per test, failures with their message, and a closing `N passed, M failed`. */
private class LineListener : RunListener() {
    private val failed = mutableSetOf<Description>()

    override fun testFailure(failure: Failure) {
        failed += failure.description
        println("FAIL ${failure.description.className.substringAfterLast('.')}.${failure.description.methodName}")
        println("     " + (failure.message ?: failure.exception.toString()).lines().take(8).joinToString("\n     "))
        if (failure.exception !is AssertionError) {
            failure.exception.stackTrace.take(6).forEach { println("       at $it") }
        }
    }

    override fun testFinished(description: Description) {
        if (description !in failed) println("ok   ${description.className.substringAfterLast('.')}.${description.methodName}")
    }
}

/** Entry point of the JVM test run (see mobile/Makefile). */
fun main() {
    val core = JUnitCore()
    core.addListener(LineListener())
    val result = core.run(*ALL_TEST_CLASSES.toTypedArray())
    val failed = result.failureCount
    val passed = result.runCount - failed
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
