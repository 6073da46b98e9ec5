package com.melanomaexp.app

import android.content.Context
import com.melanomaexp.core.ModelInput
import com.melanomaexp.core.ModelSpec
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * A bundled LiteRT model with one float output, fed the core's [ModelInput] (float32 NHWC RGB 0-255
 * as model.json states): the classifier — `model.tflite` or `model_int8.tflite`, whichever model.json
 * `on_device.recommended_model` names ([ModelSpec.onDeviceModelFile]) — answers the malignant
 * probability, `ood.tflite` the not-a-lesion score. Both take the classifier's
 * input.
 */
class LiteRtModel(context: Context, assetName: String, spec: ModelSpec, threads: Int = 2) {
    private val interpreter = Interpreter(mapAsset(context, assetName), Interpreter.Options().setNumThreads(threads))

    init {
        val shape = interpreter.getInputTensor(0).shape().toList()
        check(shape == listOf(1, spec.input.height, spec.input.width, 3)) {
            "$assetName takes input $shape but model.json says [1, ${spec.input.height}, ${spec.input.width}, 3]: " +
                "copy all files from the same export"
        }
    }

    /** The model's single output for one input. */
    fun output(input: ModelInput): Double {
        val buffer = ByteBuffer.allocateDirect(input.values.size * 4).order(ByteOrder.nativeOrder())
        buffer.asFloatBuffer().put(input.values)
        val output = Array(1) { FloatArray(1) }
        synchronized(interpreter) { interpreter.run(buffer, output) } // an Interpreter is not thread-safe
        return output[0][0].toDouble()
    }

    private fun mapAsset(context: Context, name: String): MappedByteBuffer =
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
}
