package com.melanomaexp.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The advice agrees with the operating point, on the phone exactly as on the server: the `advice`
 * table of the fixtures (mobile/tools/make_fixtures.py) holds what `serving.recommend.recommend`
 * answers for several thresholds x a fine probability grid with the bundle's own bands, and
 * [Advisor] must give the same label and level for every row. Over the same grid every band is
 * reachable and the advice never gets milder as p(malignant) rises.
 */
class AdviceParityTest {
    private val advice: JSONObject get() = TestEnv.expected.getJSONObject("advice")
    private val raw: String get() = File(TestEnv.bundleDir, "model.json").readText()

    /** The bundle's spec at decision threshold [t] (the bands stay the bundle's own). */
    private fun specAt(t: Double): ModelSpec = TestEnv.bundleSpec.copy(threshold = t)

    private fun thresholds(): List<Double> = advice.getJSONArray("thresholds").let { a -> List(a.length()) { a.getDouble(it) } }

    @Test
    fun `every row of the serving app's advice table is reproduced`() {
        val rows = advice.getJSONArray("rows")
        assertTrue("the advice table is empty", rows.length() > 1000)
        val mismatches = mutableListOf<String>()
        val specs = thresholds().associateWith { specAt(it) }
        for (i in 0 until rows.length()) {
            val row = rows.getJSONArray(i)
            val t = row.getDouble(0)
            val p = row.getDouble(1)
            val (label, recommendation) = Advisor.recommend(specs.getValue(t), p, emptyList())
            val want = row.getString(2) to row.getString(3)
            val got = label.wire to recommendation.level
            if (got != want) mismatches += "t=$t p=$p: server $want, app $got"
        }
        assertTrue("${mismatches.size} of ${rows.length()} rows differ:\n${mismatches.take(20).joinToString("\n")}",
            mismatches.isEmpty())
    }

    @Test
    fun `a bad photo leads with retake and keeps the band's advice, word for word`() {
        val cases = advice.getJSONArray("with_issues")
        assertTrue(cases.length() > 0)
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val issues = case.getJSONArray("issues").let { a -> List(a.length()) { a.getString(it) } }
            val (label, recommendation) = Advisor.recommend(specAt(case.getDouble("threshold")), case.getDouble("p"), issues)
            val want = case.getJSONObject("recommendation")
            assertEquals(case.toString(), case.getString("label"), label.wire)
            assertEquals(case.toString(), Recommendation(want.getString("level"), want.getString("text")), recommendation)
        }
    }

    @Test
    fun `at every threshold every band is reachable, advice is monotone and malignant means p at least t`() {
        val bands = TestEnv.bundleSpec.bands
        val rows = advice.getJSONArray("rows")
        val grids = linkedMapOf<Double, MutableList<Double>>()
        for (i in 0 until rows.length()) rows.getJSONArray(i).let { grids.getOrPut(it.getDouble(0)) { mutableListOf() } += it.getDouble(1) }
        assertEquals(thresholds(), grids.keys.toList())
        val allLevels = bands.benign.map { it.level }.toSet() + bands.malignant.level
        for ((t, grid) in grids) {
            val spec = specAt(t)
            val seen = mutableSetOf<String>()
            var lastSeverity = Int.MIN_VALUE
            for (p in grid.sorted()) {
                val (label, band) = Advisor.adviceBand(spec, p)
                assertEquals("t=$t p=$p", if (p >= t) Label.MALIGNANT else Label.BENIGN, label)
                assertEquals("t=$t p=$p", label == Label.MALIGNANT, band === bands.malignant)
                assertTrue("milder advice at p=$p than just below (t=$t)", band.severity >= lastSeverity)
                assertEquals(band.recommendation, Advisor.recommend(spec, p, emptyList()).second)
                lastSeverity = band.severity
                seen += band.level
            }
            assertEquals("unreachable at t=$t: ${allLevels - seen}", allLevels, seen)
        }
    }

    private fun rejected(change: (JSONObject) -> Unit): String {
        val doc = JSONObject(raw)
        change(doc.getJSONObject("recommendation_bands"))
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
        return e.message!!
    }

    private fun assertNames(message: String, key: String, phrase: String) {
        assertTrue(message, message.contains("model.json.recommendation_bands$key"))
        assertTrue(message, message.contains(phrase))
    }

    @Test
    fun `bands that would break the guarantees are rejected naming the key`() {
        val benign = { b: JSONObject, i: Int -> b.getJSONArray("benign").getJSONObject(i) }
        assertNames(rejected { benign(it, 1).put("max_threshold_fraction", 0.1) },
            ".benign[*].max_threshold_fraction", "rise strictly")
        assertNames(rejected { benign(it, 0).put("max_threshold_fraction", 0.0) },
            ".benign[*].max_threshold_fraction", "rise strictly")
        assertNames(rejected { benign(it, 0).put("max_threshold_fraction", 1.5) },
            ".benign[*].max_threshold_fraction", "rise strictly")
        assertNames(rejected { b -> benign(b, b.getJSONArray("benign").length() - 1).put("max_threshold_fraction", 0.9) },
            ".benign[-1].max_threshold_fraction", "must be 1.0")
        assertNames(rejected { benign(it, 2).put("severity", 0) }, ":", "severity must never fall")
        assertNames(rejected { it.getJSONObject("malignant").put("severity", 1) }, ":", "severity must never fall")
        assertNames(rejected { it.put("benign", org.json.JSONArray()) }, ".benign", "is empty")
        assertNames(rejected { it.put("rule", "benign_probability") }, ".rule", "threshold_fraction")
        assertNames(rejected { benign(it, 0).remove("severity") }, ".benign[0].severity", "")
        assertNames(rejected { it.getJSONObject("malignant").remove("severity") }, ".malignant.severity", "")
    }

    @Test
    fun `a bundle in the old format (min_benign_probability) is refused with a hint to export again`() {
        val message = rejected { bands ->
            bands.remove("rule")
            val benign = bands.getJSONArray("benign")
            val minimums = listOf(0.9, 0.8, 0.6, 0.0)
            for (i in 0 until benign.length()) {
                benign.getJSONObject(i).apply {
                    remove("max_threshold_fraction")
                    remove("severity")
                    put("min_benign_probability", minimums[minOf(i, minimums.lastIndex)])
                }
            }
        }
        assertNames(message, ".rule", "export it again")
    }
}
