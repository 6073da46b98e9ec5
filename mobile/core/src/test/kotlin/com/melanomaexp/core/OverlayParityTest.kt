package com.melanomaexp.core

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Where the model looked, drawn on the phone exactly as on the server: the fixtures' maps come from
 * the tiny bundle's `explain.tflite` run by `serving.explain.ExplainModel` on the fixture photos'
 * model inputs (the real dermoscopy image among them), their PNGs from `serving.explain.overlay`
 * (mobile/tools/make_fixtures.py). [Overlay] must redraw each one: every channel within one level,
 * at least 99.9 % of them equal.
 */
class OverlayParityTest {
    private val explain: JSONObject by lazy {
        assertTrue("the fixtures hold no `explain` section: the test bundle must ship explain.tflite " +
            "(model.json explain) and make_fixtures.py must write its maps", TestEnv.expected.has("explain"))
        TestEnv.expected.getJSONObject("explain")
    }
    private val cases: JSONObject get() = explain.getJSONObject("cases")

    private fun input(case: JSONObject): ModelInput {
        val height = case.getInt("height")
        val width = case.getInt("width")
        val values = readF32(File(TestEnv.fixturesDir, case.getString("input")))
        assertEquals("${case.getString("input")}: tensor length", height * width * 3, values.size)
        return ModelInput(height, width, 3, values)
    }

    private fun heatmap(rows: JSONArray): Heatmap {
        val height = rows.length()
        val width = rows.getJSONArray(0).length()
        return Heatmap(height, width, DoubleArray(height * width) { rows.getJSONArray(it / width).getDouble(it % width) })
    }

    private fun serverOverlay(case: JSONObject) = readArgb(TestEnv.fixture(case.getString("overlay")))

    @Test
    fun `each photo's overlay is the serving app's, drawn from its exact map`() {
        val names = cases.keySet().sorted()
        assertTrue("real dermoscopy and the synthetic map are among $names", names.containsAll(listOf("dermoscopy_jpg", "synthetic")))
        assertTrue("several photos: $names", names.size >= 5)
        val spec = TestEnv.bundleSpec.explain!!
        for (name in names) {
            val case = cases.getJSONObject(name)
            val map = heatmap(case.getJSONArray("heatmap"))
            if (name != "synthetic") {
                // The bundle's own map size and alpha, as model.json states them.
                assertEquals(name, spec.heatmapHeight to spec.heatmapWidth, map.height to map.width)
                assertEquals(name, spec.alpha, case.getDouble("alpha"), 0.0)
            }
            val ours = Overlay.draw(input(case), map, case.getDouble("alpha"))
            val agreement = agreement(name, ours, serverOverlay(case))
            println("overlay $name: ${map.height}x${map.width} map over ${ours.height}x${ours.width}, $agreement")
            assertTrue("$name: $agreement", agreement.matches)
        }
    }

    @Test
    fun `the answer's explanation decodes, and the map it carries redraws its overlay`() {
        for (name in cases.keySet().sorted().filter { it != "synthetic" }) {
            val case = cases.getJSONObject(name)
            val answer = ApiJson.parseExplanation(case.getJSONObject("answer"))
            assertTrue(name, answer is Explanation.Available)
            answer as Explanation.Available
            assertEquals(explain.getString("method"), answer.method)
            assertEquals(case.getInt("width") to case.getInt("height"), answer.overlayWidth to answer.overlayHeight)
            assertTrue(answer.note, answer.note.contains("not medical advice", ignoreCase = true))
            // The answer's PNG is the fixture's overlay, pixel for pixel.
            val sent = readArgb(answer.overlayPng!!) // a remote answer's overlay is the server's PNG
            assertTrue(name, sent.pixels.contentEquals(serverOverlay(case).pixels))
            // Its map is rounded to 4 decimals: drawn from it, the overlay is the serving app's
            // drawing of that map, and within a level of the PNG sent (the rounding moves a colour by
            // at most 4 x 5e-5 x 255 x alpha ~ 0.02 levels: measured 99.7-99.8 % of channels equal).
            val ours = Overlay.draw(input(case), answer.heatmap, case.getDouble("alpha"))
            val same = agreement("$name (answer's map)", ours, readArgb(TestEnv.fixture(case.getString("answer_map_overlay"))))
            assertTrue("$name, the serving app's overlay of the answer's map: $same", same.matches)
            val vsSent = agreement("$name (answer's map vs its PNG)", ours, sent)
            println("overlay $name from the answer's 4-decimal map: $same; vs the PNG sent: $vsSent")
            assertTrue("$name vs the PNG sent: $vsSent", vsSent.maxDiff <= 1 && vsSent.equalFraction >= 0.99)
        }
    }

    @Test
    fun `swapped alpha, transposed or flipped maps are caught`() {
        val case = cases.getJSONObject("synthetic")
        val image = input(case)
        val map = heatmap(case.getJSONArray("heatmap"))
        val alpha = case.getDouble("alpha")
        val theirs = serverOverlay(case)
        assertTrue(agreement("synthetic", Overlay.draw(image, map, alpha), theirs).matches)
        val transposed = Heatmap(map.width, map.height, DoubleArray(map.values.size) { map.at(it % map.height, it / map.height) })
        val flipped = Heatmap(map.height, map.width, DoubleArray(map.values.size) { map.at(map.height - 1 - it / map.width, it % map.width) })
        val mutants = mapOf(
            "alpha swapped" to Overlay.draw(image, map, 1.0 - alpha),
            "axes transposed" to Overlay.draw(image, transposed, alpha),
            "rows flipped" to Overlay.draw(image, flipped, alpha),
        )
        for ((what, overlay) in mutants) {
            val agreement = agreement("synthetic, $what", overlay, theirs)
            assertFalse("$what must not pass: $agreement", agreement.matches)
        }
    }

    @Test
    fun `jet and the bilinear upsampling at known points`() {
        fun rgb(t: Double) = List(3) { Overlay.jet(t, it) }
        assertEquals(listOf(0.0, 0.0, 0.5), rgb(0.0))
        assertEquals(listOf(0.0, 0.5, 1.0), rgb(0.25))
        assertEquals(listOf(0.5, 1.0, 0.5), rgb(0.5))
        assertEquals(listOf(1.0, 0.5, 0.0), rgb(0.75))
        assertEquals(listOf(0.5, 0.0, 0.0), rgb(1.0))
        assertEquals("clipped below 0", rgb(0.0), rgb(-3.0))
        // 1 x 2 -> 1 x 4: half-pixel centres, the outer pixels clamped to the edge cells.
        val up = Overlay.upsample(Heatmap(1, 2, doubleArrayOf(0.0, 1.0)), 1, 4)
        assertEquals(listOf(0.0, 0.25, 0.75, 1.0), up.toList())
        // A map the size of the image is unchanged.
        val same = Heatmap(2, 3, doubleArrayOf(0.1, 0.2, 0.3, 0.4, 0.5, 0.6))
        assertEquals(same.values.toList(), Overlay.upsample(same, 2, 3).toList())
    }
}
