package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** Wording: sensitivity first, a benign verdict never reads as safe, the disclaimer always shown. */
class PresentationTest {
    private val unsafeWords = Regex("\\b(safe|healthy|harmless|nothing to worry|all clear|no cancer)\\b", RegexOption.IGNORE_CASE)

    @Test
    fun `percentages never claim certainty`() {
        assertEquals("less than 1 %", Presentation.percentText(0.001))
        assertEquals("12 %", Presentation.percentText(0.1249))
        assertEquals("50 %", Presentation.percentText(0.5))
        assertEquals("more than 99 %", Presentation.percentText(0.9999))
    }

    @Test
    fun `a benign result is cautious and carries the disclaimer`() {
        val view = Presentation.result(samplePrediction("benign", 0.03))
        assertFalse(view.headline, unsafeWords.containsMatchIn(view.headline))
        assertTrue(view.headline.contains("not an all-clear"))
        assertEquals("Estimated probability of malignancy: 3 %", view.probabilityText)
        assertEquals(Tone.REASSURING_BUT_CAUTIOUS, view.tone)
        assertEquals("Not medical advice.", view.disclaimer)
        assertTrue(view.qualityWarnings.isEmpty())
    }

    @Test
    fun `a malignant result is urgent`() {
        val view = Presentation.result(samplePrediction("malignant", 0.81, "seek_care"))
        assertEquals(Tone.URGENT, view.tone)
        assertTrue(view.headline.contains("Possibly malignant"))
        assertEquals(81, view.malignantPercent)
    }

    @Test
    fun `quality issues are worded, and a poor photo is never reassuring`() {
        val p = samplePrediction("benign", 0.05, "retake_photo", qualityOk = false, issues = listOf("blurry", "too_dark", "lens_smudge"))
        val view = Presentation.result(p)
        assertEquals(
            listOf("The photo quality may make this result unreliable:", "the photo looks blurred or out of focus",
                "the photo is too dark", "lens_smudge"),
            view.qualityWarnings,
        )
        assertEquals(Tone.CAUTION, view.tone)
    }

    @Test
    fun `a photo of no lesion leads with retake and never reads as an answer`() {
        for ((label, malignant) in listOf("benign" to 0.04, "malignant" to 0.81)) {
            val p = samplePrediction(label, malignant, "retake_photo", qualityOk = false, issues = listOf("blurry", "not_a_lesion"))
            val view = Presentation.result(p)
            assertEquals("This does not look like a photo of a skin lesion — retake the photo", view.headline)
            assertTrue(view.retakeFirst)
            assertTrue(view.probabilityText, view.probabilityText.startsWith("Not a reliable result"))
            assertTrue("a worrying estimate is still shown", view.probabilityText.contains(Presentation.percentText(malignant)))
            assertFalse(view.headline, unsafeWords.containsMatchIn(view.headline + view.probabilityText))
            assertTrue(view.qualityWarnings.toString(), "this does not look like a photo of a skin lesion" in view.qualityWarnings)
            assertEquals("Not medical advice.", view.disclaimer)
            assertEquals(if (label == "malignant") Tone.URGENT else Tone.CAUTION, view.tone)
            assertEquals("Retake the photo", Presentation.advice(p).title)
        }
        // Only this issue takes the lead: a merely blurry photo keeps its verdict headline.
        val blurry = Presentation.result(samplePrediction("malignant", 0.81, "retake_photo", qualityOk = false, issues = listOf("blurry")))
        assertTrue(blurry.headline.contains("Possibly malignant"))
        assertFalse(blurry.retakeFirst)
    }

    @Test
    fun `advice shows the answer's text plus the standing see-a-doctor line`() {
        val p = samplePrediction("benign", 0.3, "see_dermatologist")
        val advice = Presentation.advice(p)
        assertEquals("See a dermatologist", advice.title)
        assertEquals(p.recommendation.text, advice.text)
        assertEquals(Presentation.SEE_A_DOCTOR_IF, advice.alwaysSeeADoctorIf)
        assertEquals("Not medical advice.", advice.disclaimer)
        assertEquals(Tone.URGENT, Presentation.advice(samplePrediction("benign", 0.45, "immediate_examination")).tone)
        assertEquals("Some new level", Presentation.advice(samplePrediction(level = "some_new_level")).title)
    }

    @Test
    fun `the bundle's own advice texts never call a lesion safe`() {
        val bands = TestEnv.bundleSpec.bands
        val texts = bands.benign.map { it.text } + bands.malignant.text + bands.retake.text
        for (text in texts) assertFalse(text, unsafeWords.containsMatchIn(text))
    }

    @Test
    fun `the photo instructions cover light, focus, distance, flash, steady hand and hair`() {
        assertEquals(listOf("Light", "Focus", "Distance", "Flash", "Steady hand", "Hair"), Presentation.photoTips.map { it.title })
        assertTrue(Presentation.photoTips.all { it.text.length > 20 })
    }
}
