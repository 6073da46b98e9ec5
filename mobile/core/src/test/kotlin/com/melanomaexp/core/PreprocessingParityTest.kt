package com.melanomaexp.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import kotlin.math.abs

/**
 * The phone's preprocessing against the serving app's, on the same files: the numbers in the
 * fixtures were produced by `serving.decode` (Pillow) in mobile/tools/make_fixtures.py.
 * PNGs decode identically on both sides, so the tensors must be equal; JPEG decoders may differ
 * slightly (IDCT, chroma upsampling), so JPEG is held to a small tolerance.
 */
class PreprocessingParityTest {
    data class Diff(val maxAbs: Double, val meanAbs: Double)

    fun compare(photoKey: String, minTensors: Int = 11, check: (JSONObject, Diff, ModelInput) -> Unit) {
        val photo = TestEnv.expected.getJSONObject("photos").getJSONObject(photoKey)
        val decoded = JvmImageDecoder.decode(TestEnv.fixture(photo.getString("file")))
        val size = photo.getJSONArray("decoded_size")
        assertEquals("decoded width", size.getInt(0), decoded.image.width)
        assertEquals("decoded height", size.getInt(1), decoded.image.height)
        val tensors = photo.getJSONArray("tensors")
        assertTrue("fixtures hold tensors", tensors.length() >= minTensors)
        for (i in 0 until tensors.length()) {
            val t = tensors.getJSONObject(i)
            val spec = InputSpec(
                height = t.getInt("height"), width = t.getInt("width"),
                resizeMethod = ResizeMethod.fromWire(t.getString("method")),
                resizeAspect = ResizeAspect.fromWire(t.getString("aspect")),
            )
            val ours = Preprocessor(spec).toModelInput(decoded.image)
            val theirs = readF32(File(TestEnv.fixturesDir, t.getString("file")))
            assertEquals("${t.getString("file")}: tensor length", theirs.size, ours.values.size)
            var maxAbs = 0.0
            var sumAbs = 0.0
            for (k in theirs.indices) {
                val d = abs(theirs[k] - ours.values[k]).toDouble()
                maxAbs = maxOf(maxAbs, d)
                sumAbs += d
            }
            check(t, Diff(maxAbs, sumAbs / theirs.size), ours)
        }
    }

    @Test
    fun `PNG tensors equal the server's for every resize method and aspect`() {
        compare("lesion_png") { t, diff, _ ->
            assertEquals("${t.getString("file")}: max |diff| (bit-exact Pillow resampling)", 0.0, diff.maxAbs, 0.0)
        }
    }

    @Test
    fun `semi-transparent PNG is composited on white like the server`() {
        compare("alpha_png") { t, diff, _ -> assertEquals(t.getString("file"), 0.0, diff.maxAbs, 0.0) }
    }

    @Test
    fun `a large PNG shrinks with the same antialiasing`() {
        compare("large_png") { t, diff, _ -> assertEquals(t.getString("file"), 0.0, diff.maxAbs, 0.0) }
    }

    @Test
    fun `JPEG tensors match within decoder tolerance`() {
        // The JDK's and Pillow's libjpeg agree on this file today; a level or two of IDCT/upsampling
        // difference is what another decoder (Android's) may legitimately add.
        compare("lesion_jpg") { t, diff, ours ->
            val means = t.getJSONArray("channel_means")
            for (c in 0 until 3) {
                assertEquals("${t.getString("file")} channel $c mean", means.getDouble(c), ours.channelMean(c), 0.1)
            }
            assertTrue("${t.getString("file")}: mean |diff| ${diff.meanAbs}", diff.meanAbs < 0.25)
            assertTrue("${t.getString("file")}: max |diff| ${diff.maxAbs}", diff.maxAbs <= 2.0)
        }
    }

    @Test
    fun `the bundle's own input spec is what the fixtures' first tensor used`() {
        val spec = TestEnv.bundleSpec.input
        val first = TestEnv.expected.getJSONObject("photos").getJSONObject("lesion_png").getJSONArray("tensors").getJSONObject(0)
        assertEquals(spec.height, first.getInt("height"))
        assertEquals(spec.width, first.getInt("width"))
        assertEquals(spec.resizeMethod, ResizeMethod.fromWire(first.getString("method")))
        assertEquals(spec.resizeAspect, ResizeAspect.fromWire(first.getString("aspect")))
    }

    @Test
    fun `value range scaling maps 0-255 onto the stated range`() {
        val img = ArgbImage(2, 1, intArrayOf(0xFF000000.toInt(), 0xFFFFFFFF.toInt()))
        val out = Preprocessor(InputSpec(1, 2, valueMin = -1.0, valueMax = 1.0, resizeAspect = ResizeAspect.STRETCH)).toModelInput(img)
        assertEquals(listOf(-1f, -1f, -1f, 1f, 1f, 1f), out.values.toList())
    }
}
