package com.melanomaexp.core

import org.junit.Test
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import java.io.File
import java.lang.reflect.Modifier
import java.util.jar.JarFile
import kotlin.system.exitProcess

/**
 * Binary names (`com.example.FooTest`) of the top-level classes in [location], a jar or a class
 * directory: inner, anonymous, lambda and other synthetic `$` classes are left out.
 */
internal fun topLevelClassNames(location: File): List<String> {
    val paths: List<String> = if (location.isDirectory) {
        location.walkTopDown().filter { it.isFile }.map { it.relativeTo(location).invariantSeparatorsPath }.toList()
    } else {
        JarFile(location).use { jar -> jar.entries().asSequence().map { it.name }.toList() }
    }
    return paths
        .filter { it.endsWith(".class") && !it.startsWith("META-INF/") }
        .map { it.removeSuffix(".class").replace('/', '.') }
        .filter { '$' !in it && !it.endsWith("module-info") && !it.endsWith("package-info") }
}

/** A Kotlin file facade (`FooKt`, top-level functions of Foo.kt) or a part of a multi-file facade. */
private fun isKotlinFacade(cls: Class<*>): Boolean = cls.getAnnotation(Metadata::class.java)?.kind in 2..5

/** A class JUnit 4 can run: concrete, not a Kotlin file facade, with at least one `@org.junit.Test` method. */
internal fun isTestClass(cls: Class<*>): Boolean =
    !cls.isInterface && !Modifier.isAbstract(cls.modifiers) && !isKotlinFacade(cls) &&
        cls.methods.any { it.isAnnotationPresent(Test::class.java) }

/**
 * The test classes of the jar or directory this runner was loaded from (build/core-tests.jar),
 * sorted by name. Nothing is listed by hand, so a new test class cannot be forgotten. Classes are
 * loaded without running their static initialisers; one that cannot be loaded fails the run.
 */
internal fun discoverTestClasses(location: File, loader: ClassLoader): List<Class<*>> =
    topLevelClassNames(location)
        .map { name -> Class.forName(name, false, loader) }
        .filter(::isTestClass)
        .sortedBy { it.name }

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

/** Setup failure: say why on stderr, keep the closing line's format, exit 1. */
private fun abort(message: String): Nothing {
    System.err.println("RunAllTests: $message")
    println("0 passed, 1 failed")
    exitProcess(1)
}

/**
 * Entry point of the JVM test run (see mobile/Makefile): discovers the test classes, prints
 * `discovered N test classes: A, B, ...`, runs them with JUnit and ends with `N passed, M failed`.
 */
fun main() {
    val self = LineListener::class.java
    val location = self.protectionDomain?.codeSource?.location?.toURI()?.let(::File)
        ?: abort("cannot tell which jar or directory the runner was loaded from")
    val classes = try {
        discoverTestClasses(location, self.classLoader)
    } catch (e: ReflectiveOperationException) {
        abort("cannot load a class of $location: $e")
    } catch (e: LinkageError) {
        abort("cannot load a class of $location: $e")
    }
    if (classes.isEmpty()) {
        abort("no test classes in $location (top-level classes with an @org.junit.Test method); is it the test jar?")
    }
    println("discovered ${classes.size} test classes: ${classes.joinToString(", ") { it.simpleName }}")
    val core = JUnitCore()
    core.addListener(LineListener())
    val result = core.run(*classes.toTypedArray())
    val failed = result.failureCount
    val passed = result.runCount - failed
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
