package com.melanomaexp.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import java.util.Base64

/** Thrown when a JSON document does not have the contract's shape; the message names the key. */
class ContractException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * Parsing of the contract-5 answers with org.json (Android ships it; the JVM tests use Debian's
 * copy of the same code). Every failure names the document and the key that is wrong.
 */
object ApiJson {
    /** Parses a 200 answer of `POST /v1/predict`. */
    fun parsePrediction(body: String): Prediction {
        val doc = parseObject(body, "prediction")
        val recommendation = doc.obj("recommendation", "prediction")
        val quality = doc.obj("quality", "prediction")
        val model = doc.obj("model", "prediction")
        val malignant = doc.num("malignant_probability", "prediction")
        val benign = doc.num("benign_probability", "prediction")
        if (malignant !in 0.0..1.0 || benign !in 0.0..1.0) {
            throw ContractException("prediction: probabilities must be within [0, 1], got $malignant / $benign")
        }
        return Prediction(
            label = wrap("prediction.label") { Label.fromWire(doc.getString("label")) },
            malignantProbability = malignant,
            benignProbability = benign,
            threshold = doc.num("threshold", "prediction"),
            recommendation = Recommendation(
                level = recommendation.str("level", "prediction.recommendation"),
                text = recommendation.str("text", "prediction.recommendation"),
            ),
            quality = Quality(
                ok = wrap("prediction.quality.ok") { quality.getBoolean("ok") },
                issues = quality.strings("issues", "prediction.quality"),
            ),
            model = ModelRef(model.str("name", "prediction.model"), model.str("version", "prediction.model")),
            disclaimer = doc.str("disclaimer", "prediction"),
            latencyMs = doc.optDouble("latency_ms", 0.0),
            explanation = if (doc.isNull("explanation")) null else parseExplanation(doc.obj("explanation", "prediction")),
        )
    }

    /**
     * The answer's `explanation`: `available` true with the map (`heatmap.height`/`width`/`values`,
     * row-major rows), the overlay PNG in base64 and its size `[width, height]`; or false with a
     * `reason`. Both carry the `note`.
     */
    fun parseExplanation(doc: JSONObject): Explanation {
        val where = "prediction.explanation"
        val note = doc.str("note", where)
        if (!wrap("$where.available") { doc.getBoolean("available") }) {
            return Explanation.Unavailable(reason = doc.str("reason", where), note = note)
        }
        val map = doc.obj("heatmap", where)
        val height = map.int("height", "$where.heatmap")
        val width = map.int("width", "$where.heatmap")
        val rows = wrap("$where.heatmap.values") { map.getJSONArray("values") }
        if (rows.length() != height) {
            throw ContractException("$where.heatmap.values has ${rows.length()} rows, heatmap.height says $height")
        }
        val values = DoubleArray(height * width)
        for (y in 0 until height) {
            val row = wrap("$where.heatmap.values[$y]") { rows.getJSONArray(y) }
            if (row.length() != width) {
                throw ContractException("$where.heatmap.values[$y] has ${row.length()} values, heatmap.width says $width")
            }
            for (x in 0 until width) values[y * width + x] = wrap("$where.heatmap.values[$y][$x]") { row.getDouble(x) }
        }
        val size = wrap("$where.overlay_size") { doc.getJSONArray("overlay_size").let { it.getInt(0) to it.getInt(1) } }
        val png = wrap("$where.overlay_png") { Base64.getDecoder().decode(doc.str("overlay_png", where)) }
        return Explanation.Available(
            method = doc.str("method", where),
            heatmap = wrap("$where.heatmap") { Heatmap(height, width, values) },
            overlayPng = png,
            overlayWidth = size.first,
            overlayHeight = size.second,
            note = note,
        )
    }

    /**
     * Reads the `{"error": {"code", "message"}}` body of a failed request. Bodies that are not that
     * shape (a proxy's HTML page, an empty body) still yield a code and a readable message.
     */
    fun parseError(status: Int, body: String): Pair<String, String> {
        val error = try {
            JSONObject(body).optJSONObject("error")
        } catch (e: JSONException) {
            null
        }
        val code = error?.optString("code", "")?.ifEmpty { null } ?: "http_$status"
        val message = error?.optString("message", "")?.ifEmpty { null }
            ?: "HTTP $status: ${body.take(200).ifBlank { BLANK_BODY_MEANING[status] ?: "empty body" }}"
        return code to message
    }

    // The JDK's HttpURLConnection drops the body of a 401 to a streamed POST; say what it means anyway.
    private val BLANK_BODY_MEANING = mapOf(
        401 to "the endpoint requires a valid API key",
        413 to "the photo is larger than the endpoint accepts",
    )

    internal fun parseObject(body: String, what: String): JSONObject = try {
        JSONObject(body)
    } catch (e: JSONException) {
        throw ContractException("$what: not a JSON object (${e.message}): ${body.take(120)}", e)
    }

    internal inline fun <T> wrap(key: String, block: () -> T): T = try {
        block()
    } catch (e: JSONException) {
        throw ContractException("$key: ${e.message}", e)
    } catch (e: IllegalArgumentException) {
        throw ContractException("$key: ${e.message}", e)
    }

    internal fun JSONObject.obj(key: String, where: String): JSONObject =
        wrap("$where.$key") { getJSONObject(key) }

    internal fun JSONObject.str(key: String, where: String): String =
        wrap("$where.$key") { if (isNull(key)) throw JSONException("is null") else getString(key) }

    internal fun JSONObject.num(key: String, where: String): Double =
        wrap("$where.$key") { getDouble(key) }

    internal fun JSONObject.int(key: String, where: String): Int =
        wrap("$where.$key") { getInt(key) }

    internal fun JSONObject.strings(key: String, where: String): List<String> =
        wrap("$where.$key") { getJSONArray(key).let { a -> List(a.length()) { a.getString(it) } } }

    internal fun JSONArray.objects(where: String): List<JSONObject> =
        List(length()) { i -> wrap("$where[$i]") { getJSONObject(i) } }
}
