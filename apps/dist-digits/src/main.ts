/** Data-parallel and federated training of the digits MLP (see README). */
export {};
