// The ledger's values (records, queries, reports) live in HoopLedgerModel, which the broker
// protocol carries without the storage; users of the ledger see them through this module.
@_exported import HoopLedgerModel
