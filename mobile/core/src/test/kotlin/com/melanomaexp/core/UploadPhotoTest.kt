package com.melanomaexp.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.ByteArrayInputStream
import java.io.File
import javax.imageio.ImageIO
import kotlin.math.atan2
import kotlin.math.min
import kotlin.math.sin

/**
 * Photos that fit the road they travel: what the app uploads ([UploadPhoto]) — downscaled to
 * model.json `quality_gate.upload_max_side_px`, upright, JPEG — and that the downscale is Pillow's BOX
 * resize bit for bit (the fixtures' references were made by Pillow in mobile/tools/make_fixtures.py;
 * tests/serving/test_serving_upload_size.py shows the server gives the same verdict either way).
 */
class UploadPhotoTest {
    @Test
    fun `a 50 MP capture is uploaded under 4_5 MB with its long side at upload_max_side_px`() {
        val spec = TestEnv.bundleSpec
        val capture = syntheticCapture(8160, 6120)
        // What the app sent before: the capture re-encoded at full resolution, JPEG quality 95.
        val fullSize = JvmJpegEncoder.encode(capture, 95).size
        val upload = UploadPhoto.prepare(DecodedPhoto(capture), spec, JvmJpegEncoder)
        println("upload: 50 MP capture 8160x6120, full size at q95 $fullSize bytes -> " +
            "${upload.width}x${upload.height} at q${upload.quality}: ${upload.bytes.size} bytes")
        assertTrue("full size $fullSize bytes would not fit the Lambda path", fullSize > UploadPhoto.MAX_UPLOAD_BYTES)
        assertTrue("upload ${upload.bytes.size} bytes < 4.5 MB", upload.bytes.size < 4_500_000)
        assertEquals(spec.qualityGate.uploadMaxSidePx, maxOf(upload.width, upload.height))
        assertEquals(1024 to 768, upload.width to upload.height)
        assertEquals(UploadPhoto.JPEG_QUALITY, upload.quality)
        assertTrue(upload.downscaled)
        assertEquals("image/jpeg", upload.contentType)
        val back = ImageIO.read(ByteArrayInputStream(upload.bytes))
        assertEquals(1024 to 768, back.width to back.height)
        assertEquals("no EXIF orientation in the upload", 1, Orientation.fromJpeg(upload.bytes))
        // The real serving app takes it and judges it a usable photo (resolution, blur, exposure).
        val answer = ApiClient(EndpointConfig(TestEnv.baseUrl)).predict(upload.bytes, upload.contentType)
        assertFalse(answer.quality.issues.toString(), answer.quality.issues.any { it in listOf("low_resolution", "blurry", "too_dark", "too_bright") })
    }

    @Test
    fun `the downscale is Pillow's BOX resize bit for bit, either pass order, transparency on white`() {
        val uploads = TestEnv.expected.getJSONObject("uploads")
        assertEquals(setOf("upload_wide", "upload_tall"), uploads.keySet())
        for (name in uploads.keySet()) {
            val u = uploads.getJSONObject(name)
            val decoded = JvmImageDecoder.decode(TestEnv.fixture(u.getString("file")))
            val ours = UploadPhoto.downscale(decoded.image, u.getInt("max_side"))
            val size = u.getJSONArray("size")
            assertEquals(name, size.getInt(0) to size.getInt(1), ours.width to ours.height)
            val theirs = ImageIO.read(File(TestEnv.fixturesDir, u.getString("expected")))
            val expected = theirs.getRGB(0, 0, theirs.width, theirs.height, null, 0, theirs.width)
            assertArrayEquals("$name: pixels of Pillow's resize(BOX)", expected, ours.pixels)
        }
    }

    @Test
    fun `a photo within the limit keeps its size and is never upscaled`() {
        val photo = TestEnv.expected.getJSONObject("photos").getJSONObject("alpha_png")
        val decoded = JvmImageDecoder.decode(TestEnv.fixture(photo.getString("file")))
        val upload = UploadPhoto.prepare(decoded, TestEnv.bundleSpec, JvmJpegEncoder)
        assertEquals(decoded.image.width to decoded.image.height, upload.width to upload.height)
        assertFalse(upload.downscaled)
        // Opaque, transparency composited on white exactly as the server's decoder does.
        val (r, g, b) = decoded.image.rgbPlanes()
        val flat = UploadPhoto.downscale(decoded.image, 4096).pixels
        for (i in flat.indices) assertEquals(0xFF shl 24 or (r[i] shl 16) or (g[i] shl 8) or b[i], flat[i])
    }

    @Test
    fun `the EXIF orientation is applied before the upload and not sent`() {
        // A landscape JPEG tagged "rotate 90° clockwise" (orientation 6): the upload is upright portrait.
        val bytes = TestEnv.fixture("exif6.jpg")
        assertEquals(6, Orientation.fromJpeg(bytes))
        val upload = UploadPhoto.prepare(JvmImageDecoder.decode(bytes), TestEnv.bundleSpec, JvmJpegEncoder)
        assertEquals(40 to 72, upload.width to upload.height)
        assertEquals(1, Orientation.fromJpeg(upload.bytes))
        val back = ImageIO.read(ByteArrayInputStream(upload.bytes))
        assertEquals(40 to 72, back.width to back.height)
    }

    @Test
    fun `target sizes keep the aspect ratio and round like Python`() {
        assertEquals(1024 to 768, UploadPhoto.targetSize(8160, 6120, 1024))
        assertEquals(1024 to 768, UploadPhoto.targetSize(4032, 3024, 1024))
        assertEquals(768 to 1024, UploadPhoto.targetSize(3000, 4000, 1024))
        assertEquals(1024 to 576, UploadPhoto.targetSize(3840, 2160, 1024))
        assertEquals(1024 to 1024, UploadPhoto.targetSize(1024, 1024, 1024))
        assertEquals(900 to 20, UploadPhoto.targetSize(900, 20, 1024))
        assertEquals(1024 to 1, UploadPhoto.targetSize(5000, 2, 1024))
        // 10 x 1024/2048 = 5 exactly; 5 x 1024/2048 = 2.5 rounds half to even (2), as Python's round().
        assertEquals(5 to 1024, UploadPhoto.targetSize(10, 2048, 1024))
        assertEquals(2 to 1024, UploadPhoto.targetSize(5, 2048, 1024))
        assertEquals(QualityGate.DEFAULT_UPLOAD_MAX_SIDE_PX, UploadPhoto.maxSide(null))
        assertEquals(TestEnv.bundleSpec.qualityGate.uploadMaxSidePx, UploadPhoto.maxSide(TestEnv.bundleSpec))
    }

    @Test
    fun `an upload still over the byte budget is encoded again at lower qualities`() {
        val tried = mutableListOf<Int>()
        val encoder = JpegEncoder { _, quality ->
            tried += quality
            ByteArray(if (quality > 70) UploadPhoto.MAX_UPLOAD_BYTES + 1 else 1000)
        }
        val photo = DecodedPhoto(ArgbImage(2, 2, IntArray(4) { 0xFF808080.toInt() }))
        val upload = UploadPhoto.prepare(photo, 1024, encoder)
        assertEquals(listOf(90, 80, 70), tried)
        assertEquals(70, upload.quality)
        assertEquals(1000, upload.bytes.size)
    }

    /**
     * A phone capture of a skin lesion, generated (no file: 200 MB of pixels): shaded skin with pores
     * (fine noise) and a coarser texture that survives the quality gate's 512 px analysis copy, an
     * irregular dark lesion, a few hairs. Noise from a xorshift, so 50 MP take a few seconds.
     */
    private fun syntheticCapture(w: Int, h: Int, seed: Long = 50L): ArgbImage {
        var s = 0x2545F4914F6CDD1DL xor seed
        fun next(): Long {
            s = s xor (s shl 13)
            s = s xor (s ushr 7)
            s = s xor (s shl 17)
            return s
        }
        val cell = 24
        val gw = w / cell + 2
        val grid = DoubleArray(gw * (h / cell + 2)) { ((next() ushr 11).toDouble() / (1L shl 53) - 0.5) * 44.0 }
        val pixels = IntArray(w * h)
        val cx = w * 0.48
        val cy = h * 0.52
        val r = min(w, h) * 0.2
        val outer = (r * 1.3) * (r * 1.3)
        for (y in 0 until h) {
            val shade = 18.0 * y / h
            val gy = y / cell
            val fy = (y % cell).toDouble() / cell
            for (x in 0 until w) {
                val v = next()
                val n = (((v and 0xFF) + ((v ushr 8) and 0xFF) + ((v ushr 16) and 0xFF)) / 3 - 128).toDouble() / 9.0
                val gx = x / cell
                val fx = (x % cell).toDouble() / cell
                val k = gy * gw + gx
                val t = (grid[k] * (1 - fx) + grid[k + 1] * fx) * (1 - fy) + (grid[k + gw] * (1 - fx) + grid[k + gw + 1] * fx) * fy
                var red = 206.0 - shade + 12.0 * x / w + t + n
                var green = 158.0 - shade + 0.8 * t + n
                var blue = 134.0 - shade + 0.7 * t + 0.8 * n
                val dx = x - cx
                val dy = y - cy
                val d2 = dx * dx + dy * dy
                if (d2 < outer) {
                    val angle = atan2(dy, dx)
                    val edge = r * (1.0 + 0.18 * sin(5.0 * angle) + 0.07 * sin(13.0 * angle))
                    if (d2 < edge * edge) {
                        val depth = 1.0 - d2 / (edge * edge)
                        red = 120.0 - 40.0 * depth + 0.6 * t + n
                        green = 78.0 - 30.0 * depth + 0.5 * t + n
                        blue = 60.0 - 20.0 * depth + 0.4 * t + n
                    }
                }
                if ((x + 3 * y) % 1499 < 5 || (2 * x - y + 7 * h) % 2311 < 4) { // hairs
                    red = 70.0 + n
                    green = 52.0 + n
                    blue = 44.0 + n
                }
                pixels[y * w + x] = (0xFF shl 24) or (clamp(red) shl 16) or (clamp(green) shl 8) or clamp(blue)
            }
        }
        return ArgbImage(w, h, pixels)
    }

    private fun clamp(v: Double): Int = v.toInt().coerceIn(0, 255)
}
