/// `GET /health`: the node answers, and says who it is.
public struct Health: Codable, Sendable {
    public var status = "ok"
    public var nodeId: String

    public init(nodeId: String) { self.nodeId = nodeId }
}
