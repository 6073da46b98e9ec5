package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** EXIF orientation: read from the JPEG and applied to pixels exactly as the server does. */
class OrientationTest {
    private val parity = PreprocessingParityTest()

    @Test
    fun `the orientation tag is read from every fixture JPEG`() {
        for (o in 1..8) {
            val photo = TestEnv.expected.getJSONObject("photos").getJSONObject("exif${o}_jpg")
            assertEquals("exif$o.jpg", photo.getInt("exif_orientation"), Orientation.fromJpeg(TestEnv.fixture(photo.getString("file"))))
        }
        assertEquals("a PNG has no JPEG EXIF", 1, Orientation.fromJpeg(TestEnv.fixture("lesion.png")))
        assertEquals("a JPEG without EXIF", 1, Orientation.fromJpeg(TestEnv.fixture("lesion.jpg")))
        assertEquals("garbage", 1, Orientation.fromJpeg(byteArrayOf(-1, -40, -1, -31, 0)))
    }

    @Test
    fun `every orientation reaches the model upright, like on the server`() {
        for (o in 1..8) {
            val photo = TestEnv.expected.getJSONObject("photos").getJSONObject("exif${o}_jpg")
            val decoded = JvmImageDecoder.decode(TestEnv.fixture(photo.getString("file")))
            assertEquals("exif$o width", photo.getJSONArray("decoded_size").getInt(0), decoded.image.width)
            parity.compare("exif${o}_jpg", minTensors = 3) { t, diff, _ ->
                assertTrue("exif$o ${t.getString("file")}: max |diff| ${diff.maxAbs}", diff.maxAbs <= 2.0)
            }
        }
    }

    @Test
    fun `orientations are pixel permutations with the expected corners`() {
        // 3x2 image, pixels numbered row by row: 0 1 2 / 3 4 5
        val img = ArgbImage(3, 2, IntArray(6) { it })
        fun rows(o: Int) = Orientation.apply(img, o).let { r -> List(r.height) { y -> List(r.width) { x -> r.pixels[y * r.width + x] } } }
        assertEquals(listOf(listOf(0, 1, 2), listOf(3, 4, 5)), rows(1))
        assertEquals(listOf(listOf(2, 1, 0), listOf(5, 4, 3)), rows(2))
        assertEquals(listOf(listOf(5, 4, 3), listOf(2, 1, 0)), rows(3))
        assertEquals(listOf(listOf(3, 4, 5), listOf(0, 1, 2)), rows(4))
        assertEquals(listOf(listOf(0, 3), listOf(1, 4), listOf(2, 5)), rows(5))
        assertEquals(listOf(listOf(3, 0), listOf(4, 1), listOf(5, 2)), rows(6)) // 90° clockwise
        assertEquals(listOf(listOf(5, 2), listOf(4, 1), listOf(3, 0)), rows(7))
        assertEquals(listOf(listOf(2, 5), listOf(1, 4), listOf(0, 3)), rows(8)) // 90° counter-clockwise
        assertTrue(Orientation.swapsSides(6) && !Orientation.swapsSides(3))
    }
}
