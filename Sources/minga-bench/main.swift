import Foundation
import MingaCore

// In-process figures for scripts/bench that no CLI command shows on its own: what signing
// and verifying cost per change, beside what the change costs to encode as wire JSON (the
// baseline: work every change needs anyway). Prints one JSON object.

let count = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
let origin = try NodeID("mx.amexcid")
let changes = (1...count).map { i in
    Change(
        origin: origin,
        seq: Int64(i),
        hlc: HLC(millis: 1_800_000_000_000 + Int64(i), counter: 0),
        table: "initiative",
        key: [.text(String(format: "XM-DAC-41114-PROJ-%06d", i))],
        op: .update,
        columns: ["status": .text("3"), "title": .text("Agua potable para comunidades rurales \(i)")],
        context: VersionVector([origin: Int64(i - 1)])
    )
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let key = SigningKey()
let encoder = JSONEncoder.wire
var sink = 0
let encode = try seconds { for c in changes { sink &+= try encoder.encode(c).count } }
var links: [[UInt8]] = []
links.reserveCapacity(count)
let chain = seconds {
    var link = OriginChain.genesis
    for c in changes {
        link = OriginChain.link(after: link, c)
        links.append(link)
    }
}
let signEvery = try seconds { for l in links { sink &+= try key.sign(link: l).count } }
let signatures = try links.map { try key.sign(link: $0) }
let verifyEvery = seconds { for (l, s) in zip(links, signatures) where key.publicKey.isValid(signature: s, link: l) { sink &+= 1 } }
let interval = OriginChain.signingInterval
let perChange = { (total: Double) in total / Double(count) * 1e6 }
let design = perChange(chain) + perChange(signEvery) / Double(interval)
let designVerify = perChange(chain) + perChange(verifyEvery) / Double(interval)
print(
    """
    {"changes":\(count),"encodeWireJSONMicros":\(perChange(encode)),"chainLinkMicros":\(perChange(chain)),\
    "ed25519SignMicros":\(perChange(signEvery)),"ed25519VerifyMicros":\(perChange(verifyEvery)),\
    "signingInterval":\(interval),"signPerChangeMicros":\(design),"verifyPerChangeMicros":\(designVerify),"sink":\(sink)}
    """
)
