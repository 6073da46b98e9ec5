package com.melanomaexp.core

import org.json.JSONObject
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import javax.imageio.IIOImage
import javax.imageio.ImageIO
import javax.imageio.ImageWriteParam

/**
 * What the test driver (mobile/tools/run_suite.py) hands the JVM: the live servers, the bundle and
 * the fixtures written by the serving app's own preprocessing. A missing property is a setup error.
 */
object TestEnv {
    private fun prop(name: String): String =
        System.getProperty(name)?.takeIf { it.isNotBlank() }
            ?: error("system property -D$name is not set; run the suite with `make -C mobile test`")

    val baseUrl: String get() = prop("melanoma.url")
    val keyedUrl: String get() = prop("melanoma.keyedUrl")
    val apiKey: String get() = prop("melanoma.apiKey")
    val keyedMaxBodyBytes: Int get() = prop("melanoma.keyedMaxBodyBytes").toInt()
    val bundleDir: File get() = File(prop("melanoma.bundle"))
    val fixturesDir: File get() = File(prop("melanoma.fixtures"))

    /** The bundle's model.json, parsed by the code under test. */
    val bundleSpec: ModelSpec by lazy { ModelJson.parse(File(bundleDir, "model.json").readText()) }

    /** The serving side's numbers for the fixture photos. */
    val expected: JSONObject by lazy { JSONObject(File(fixturesDir, "expected.json").readText()) }

    fun fixture(name: String): ByteArray = File(fixturesDir, name).readBytes()
}

/**
 * The JVM's implementation of the decoder seam: ImageIO decodes, the core reads the EXIF tag and
 * turns the pixels upright (Android: BitmapFactory + ExifInterface, then the same core call).
 */
object JvmImageDecoder : ImageDecoder {
    override fun decode(bytes: ByteArray): DecodedPhoto {
        val img = ImageIO.read(ByteArrayInputStream(bytes))
            ?: throw IllegalArgumentException("not a decodable image (${bytes.size} bytes)")
        val pixels = img.getRGB(0, 0, img.width, img.height, null, 0, img.width)
        val orientation = Orientation.fromJpeg(bytes)
        val upright = Orientation.apply(ArgbImage(img.width, img.height, pixels), orientation)
        return DecodedPhoto(upright, upright.width, upright.height)
    }
}

/**
 * The JVM's implementation of the encoder seam: ImageIO's JPEG writer (the JDK's libjpeg, IJG
 * quality scaling as Android's libjpeg-turbo) on opaque RGB, no metadata but the JFIF header.
 */
object JvmJpegEncoder : JpegEncoder {
    override fun encode(image: ArgbImage, quality: Int): ByteArray {
        val rgb = BufferedImage(image.width, image.height, BufferedImage.TYPE_INT_RGB)
        rgb.setRGB(0, 0, image.width, image.height, image.pixels, 0, image.width)
        val writer = ImageIO.getImageWritersByFormatName("jpeg").next()
        val params = writer.defaultWriteParam.apply {
            compressionMode = ImageWriteParam.MODE_EXPLICIT
            compressionQuality = quality / 100f
        }
        val out = ByteArrayOutputStream()
        ImageIO.createImageOutputStream(out).use { stream ->
            writer.output = stream
            writer.write(null, IIOImage(rgb, null, null), params)
        }
        writer.dispose()
        return out.toByteArray()
    }
}

/** A PNG (or any ImageIO format) as ARGB pixels. */
fun readArgb(bytes: ByteArray): ArgbImage {
    val img = ImageIO.read(ByteArrayInputStream(bytes))
    return ArgbImage(img.width, img.height, img.getRGB(0, 0, img.width, img.height, null, 0, img.width))
}

/** How far one RGB picture is from another: largest channel difference, share of equal channels. */
data class Agreement(val maxDiff: Int, val equalFraction: Double) {
    /** The overlay parity bar: every channel within one level, at least 99.9 % of them equal. */
    val matches: Boolean get() = maxDiff <= 1 && equalFraction >= 0.999
}

/** The [Agreement] of [ours] with [theirs] (same size, asserted with [name]). */
fun agreement(name: String, ours: ArgbImage, theirs: ArgbImage): Agreement {
    org.junit.Assert.assertEquals("$name: size", theirs.width to theirs.height, ours.width to ours.height)
    var maxDiff = 0
    var equal = 0
    for (i in ours.pixels.indices) {
        for (shift in intArrayOf(16, 8, 0)) {
            val d = kotlin.math.abs(((ours.pixels[i] shr shift) and 0xFF) - ((theirs.pixels[i] shr shift) and 0xFF))
            maxDiff = maxOf(maxDiff, d)
            if (d == 0) equal++
        }
    }
    return Agreement(maxDiff, equal.toDouble() / (3 * ours.pixels.size))
}

/** Reads a raw little-endian float32 tensor written by numpy's `tofile`. */
fun readF32(file: File): FloatArray {
    val buf = ByteBuffer.wrap(file.readBytes()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    return FloatArray(buf.remaining()).also { buf.get(it) }
}

/** A well-formed contract-5 answer for parsing and presentation tests. */
fun predictionJson(
    label: String = "benign",
    malignant: Double = 0.12,
    level: String = "likely_benign",
    text: String = "Likely benign. Keep an eye on it.",
    qualityOk: Boolean = true,
    issues: List<String> = emptyList(),
): String = JSONObject()
    .put("label", label)
    .put("malignant_probability", malignant)
    .put("benign_probability", 1.0 - malignant)
    .put("threshold", 0.5)
    .put("recommendation", JSONObject().put("level", level).put("text", text))
    .put("quality", JSONObject().put("ok", qualityOk).put("issues", org.json.JSONArray(issues)))
    .put("model", JSONObject().put("name", "tiny-test-model").put("version", "3"))
    .put("disclaimer", "Not medical advice.")
    .put("latency_ms", 12.5)
    .toString()

fun samplePrediction(label: String = "benign", malignant: Double = 0.12, level: String = "likely_benign",
                     qualityOk: Boolean = true, issues: List<String> = emptyList()): Prediction =
    ApiJson.parsePrediction(predictionJson(label, malignant, level, qualityOk = qualityOk, issues = issues))
