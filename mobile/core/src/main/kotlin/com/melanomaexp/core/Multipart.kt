package com.melanomaexp.core

import java.io.ByteArrayOutputStream
import java.util.UUID

/**
 * A `multipart/form-data` body with one file field, built in memory so its exact length is known
 * (fixed-length streaming gives real upload progress and avoids chunked encoding through proxies).
 */
class MultipartBody(
    fieldName: String,
    fileName: String,
    fileContentType: String,
    content: ByteArray,
    val boundary: String = "----melanoma-" + UUID.randomUUID().toString().replace("-", ""),
) {
    /** The value for the request's Content-Type header. */
    val contentType: String = "multipart/form-data; boundary=$boundary"

    /** The encoded body. */
    val bytes: ByteArray

    init {
        require(fieldName.none { it == '"' || it == '\r' || it == '\n' }) { "invalid multipart field name '$fieldName'" }
        val safeName = fileName.filter { it != '"' && it != '\r' && it != '\n' }.ifEmpty { "image" }
        val out = ByteArrayOutputStream(content.size + 256)
        val head = "--$boundary\r\n" +
            "Content-Disposition: form-data; name=\"$fieldName\"; filename=\"$safeName\"\r\n" +
            "Content-Type: $fileContentType\r\n\r\n"
        out.write(head.toByteArray(Charsets.UTF_8))
        out.write(content)
        out.write("\r\n--$boundary--\r\n".toByteArray(Charsets.UTF_8))
        bytes = out.toByteArray()
    }
}
