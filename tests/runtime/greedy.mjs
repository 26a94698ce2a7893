// Greedy generation with llama.cpp (node-llama-cpp's prebuilt CPU binaries, no build,
// no download): node greedy.mjs MODEL.gguf [N]. Prints one JSON line: the token ids of
// the N (default 100) tokens generated after BOS + "Once upon a time" (temperature 0,
// context 128, as the shared llama-cli runs), and their text.
import {getLlama} from "node-llama-cpp";

const [, , model, n = "100"] = process.argv;
if (!model) {
    console.error("usage: node greedy.mjs MODEL.gguf [N]");
    process.exit(2);
}
const llama = await getLlama({gpu: false, build: "never", progressLogs: false, logLevel: "error"});
const m = await llama.loadModel({modelPath: model});
// One thread: results must not depend on how the work is split, and the test machine
// is shared.
const context = await m.createContext({contextSize: 128, threads: 1});
const sequence = context.getSequence();
const prompt = [m.tokens.bos, ...m.tokenize("Once upon a time", false)];
const tokens = [];
for await (const t of sequence.evaluate(prompt, {temperature: 0})) {
    tokens.push(t);
    if (tokens.length >= Number(n)) break;
}
console.log(JSON.stringify({tokens, text: m.detokenize(tokens)}));
process.exit(0);
